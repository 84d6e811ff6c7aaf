//! The Slack app manifest an admin pastes into "Create New App → From an app manifest": the
//! `/call` command, the scopes each with why, the event subscriptions, interactivity, the OAuth
//! redirect and token rotation, all pointing at this gateway's public URL under `/slack`.
//! YAML, so each scope can carry its reason as a comment (Slack accepts YAML or JSON).

use std::fmt::Write as _;

use url::Url;

use crate::config::{BOT_SCOPES, USER_SCOPES};

/// Events the bot subscribes to (§9.4, §5.4, §6.1).
const BOT_EVENTS: &[(&str, &str)] = &[
    ("user_change", "a person's profile or status changed"),
    ("user_status_changed", "a person's status changed"),
    (
        "user_huddle_changed",
        "a person joined or left a huddle (shown as in a call on Teams)",
    ),
    ("call_rejected", "someone declined a call card in a DM"),
    ("tokens_revoked", "tokens were revoked: delete them at once"),
    (
        "app_uninstalled",
        "the workspace removed callbridge: delete everything",
    ),
];

/// Events delivered for people who granted user scopes (§7.7).
const USER_EVENTS: &[(&str, &str)] = &[("dnd_updated_user", "the person changed Do not disturb")];

/// Renders the manifest for a gateway reachable at `public_url`.
pub fn render(public_url: &Url) -> String {
    let base = public_url.as_str().trim_end_matches('/');
    let url = |path: &str| yaml_string(&format!("{base}/slack/{path}"));
    let mut out = String::new();
    out.push_str(
        "# Slack app manifest for callbridge. Paste it at https://api.slack.com/apps ->\n",
    );
    out.push_str("# Create New App -> From an app manifest.\n");
    out.push_str("display_information:\n");
    out.push_str("  name: callbridge\n");
    out.push_str(
        "  description: Call people on Microsoft Teams from Slack, and see their Teams status.\n",
    );
    out.push_str("features:\n");
    out.push_str("  bot_user:\n");
    out.push_str("    display_name: callbridge\n");
    out.push_str("    always_online: true\n");
    out.push_str("  slash_commands:\n");
    out.push_str("    - command: /call\n");
    let _ = writeln!(out, "      url: {}", url("commands"));
    out.push_str("      description: Call someone on Microsoft Teams\n");
    out.push_str("      usage_hint: \"@person | name@company.com | +14155550100 | help\"\n");
    out.push_str("      # Mentions arrive as <@U…|name>, so the callee is an id, not a guess.\n");
    out.push_str("      should_escape: true\n");
    out.push_str("oauth_config:\n");
    out.push_str("  redirect_urls:\n");
    let _ = writeln!(out, "    - {}", url("oauth/callback"));
    out.push_str("  scopes:\n");
    out.push_str("    bot:\n");
    for (scope, why) in BOT_SCOPES {
        let _ = writeln!(out, "      - {scope} # {why}");
    }
    out.push_str("    # Requested from each person who opts in to status mirroring.\n");
    out.push_str("    user:\n");
    for (scope, why) in USER_SCOPES {
        let _ = writeln!(out, "      - {scope} # {why}");
    }
    out.push_str("settings:\n");
    out.push_str("  event_subscriptions:\n");
    let _ = writeln!(out, "    request_url: {}", url("events"));
    out.push_str("    bot_events:\n");
    for (event, why) in BOT_EVENTS {
        let _ = writeln!(out, "      - {event} # {why}");
    }
    out.push_str("    user_events:\n");
    for (event, why) in USER_EVENTS {
        let _ = writeln!(out, "      - {event} # {why}");
    }
    out.push_str("  interactivity:\n");
    out.push_str("    is_enabled: true\n");
    let _ = writeln!(out, "    request_url: {}", url("interactivity"));
    out.push_str("  org_deploy_enabled: false\n");
    out.push_str("  socket_mode_enabled: false\n");
    out.push_str(
        "  # Access tokens last 12 hours; callbridge refreshes them before they expire.\n",
    );
    out.push_str("  token_rotation_enabled: true\n");
    out
}

/// A double-quoted YAML scalar (URLs may hold `:` and `#`).
fn yaml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_scopes_and_rotation_are_all_there() {
        let manifest = render(&Url::parse("https://calls.example.com/").unwrap());
        for needle in [
            "url: \"https://calls.example.com/slack/commands\"",
            "request_url: \"https://calls.example.com/slack/events\"",
            "request_url: \"https://calls.example.com/slack/interactivity\"",
            "- \"https://calls.example.com/slack/oauth/callback\"",
            "token_rotation_enabled: true",
            "should_escape: true",
            "- calls:write # ",
            "- users.profile:write # ",
            "- app_uninstalled # ",
        ] {
            assert!(manifest.contains(needle), "missing {needle}\n{manifest}");
        }
        // Every scope is listed with its reason.
        for (scope, why) in BOT_SCOPES.iter().chain(USER_SCOPES) {
            assert!(
                manifest.contains(&format!("- {scope} # {why}\n")),
                "{scope} without its reason"
            );
        }
    }

    #[test]
    fn a_public_url_with_a_path_keeps_it() {
        let manifest = render(&Url::parse("https://example.com/callbridge").unwrap());
        assert!(manifest.contains("\"https://example.com/callbridge/slack/events\""));
    }
}
