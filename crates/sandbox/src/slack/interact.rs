//! Acting as a person in Slack (slack-api.md §3, §4, §7, §11): what the acts share. The acts
//! themselves are in `slash`, `click` and `by_hand`; reading what Slack shows is in `read`.

use serde::Serialize;

use super::error::SandboxError;
use super::events::Delivery;
use super::outbound::Answer;
use super::state::{SlackState, World};

/// What a person saw after typing a command or clicking a button.
#[derive(Clone, Debug, Serialize)]
pub struct ActOutcome {
    /// The app's HTTP status, when it answered in time.
    pub status: Option<u16>,
    /// The error the Slack client shows: `operation_timeout` when the app took over 3 s,
    /// `dispatch_failed` when it could not be reached or did not answer 200.
    pub error: Option<String>,
    /// The app's answer body.
    pub response_body: String,
    /// The `response_url` handed to the app.
    pub response_url: String,
    /// The `trigger_id` handed to the app.
    pub trigger_id: String,
    /// The conversation the act happened in.
    pub channel: String,
}

pub(crate) fn misuse(what: impl Into<String>) -> SandboxError {
    SandboxError::ApiMisuse(what.into())
}

impl SlackState {
    /// The DM between `user` and the app's bot, opened if needed: where `/call` is typed by
    /// default and where the app's replies show.
    pub fn dm_with_app(&self, user: &str) -> Result<String, SandboxError> {
        let mut world = self.world();
        let team = world
            .users
            .get(user)
            .map(|u| u.team_id.clone())
            .ok_or_else(|| misuse(format!("unknown user {user}")))?;
        let bot = world
            .workspace(&team)
            .and_then(|w| w.bot_user_id.clone())
            .ok_or_else(|| misuse("the app is not installed in this workspace"))?;
        Ok(world.open_dm(&team, user, &bot).0)
    }
}

/// The client-side error a person sees for an answer (§3 "Acknowledging the command").
pub(crate) fn client_error(answer: &Answer) -> Option<String> {
    match answer.failure {
        None if answer.status == Some(200) => None,
        Some("http_timeout") => Some("operation_timeout".to_owned()),
        // UNCONFIRMED in §3 which failures show `dispatch_failed`; every other one does here.
        _ => Some("dispatch_failed".to_owned()),
    }
}

pub(crate) fn record(world: &mut World, kind: &str, answer: &Answer) {
    let at = answer.signed_ts - world.signing.skew_secs;
    world.events.deliveries.push(Delivery {
        kind: kind.to_owned(),
        event_id: None,
        event_type: None,
        retry_num: 0,
        retry_reason: None,
        at,
        status: answer.status,
        outcome: answer.failure.unwrap_or("ok").to_owned(),
        elapsed_ms: answer.elapsed_ms,
    });
}
