//! Bot messages as the Teams client shows them: the text, and Adaptive Cards rendered to HTML.
//! `TextBlock`s become text, `Action.OpenUrl` a link that opens a new tab, `Action.Submit` and
//! `Action.Execute` buttons that post back through the client. Everything in a card is remote
//! input: every string is escaped and only `http(s)` links are made clickable.

use serde_json::Value;

use super::render::{attr, escape};

/// Cards nest (containers, columns); deeper than this is not a real card and is cut off.
const MAX_DEPTH: usize = 12;

/// One bot message: its text and its attachments (`replaced`: the card an `Action.Execute`
/// answer put in place of the original).
pub(super) fn message(
    post_url: &str,
    activity_id: &str,
    activity: &Value,
    replaced: Option<&Value>,
) -> String {
    let mut html = String::new();
    if let Some(text) = activity["text"].as_str().filter(|t| !t.is_empty()) {
        html.push_str(&format!("<p class=\"text\">{}</p>", escape(text)));
    }
    if let Some(card) = replaced {
        html.push_str(&card_html(post_url, activity_id, card));
        return html;
    }
    for attachment in activity["attachments"].as_array().into_iter().flatten() {
        let kind = attachment["contentType"].as_str().unwrap_or_default();
        if kind == "application/vnd.microsoft.card.adaptive" {
            html.push_str(&card_html(post_url, activity_id, &attachment["content"]));
        } else {
            html.push_str(&format!(
                "<p class=\"unsupported\">(an attachment this client does not show: {})</p>",
                escape(kind)
            ));
        }
    }
    html
}

fn card_html(post_url: &str, activity_id: &str, card: &Value) -> String {
    let context = Context {
        post_url,
        activity_id,
    };
    let mut html = String::from("<div class=\"card\">");
    for element in card["body"].as_array().into_iter().flatten() {
        context.element(&mut html, element, 0);
    }
    context.actions(&mut html, &card["actions"]);
    html.push_str("</div>");
    html
}

struct Context<'a> {
    post_url: &'a str,
    activity_id: &'a str,
}

impl Context<'_> {
    fn element(&self, html: &mut String, element: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let children = |html: &mut String, key: &str| {
            for child in element[key].as_array().into_iter().flatten() {
                self.element(html, child, depth + 1);
            }
        };
        match element["type"].as_str().unwrap_or_default() {
            "TextBlock" => {
                let mut class = String::from("tb");
                if element["weight"].as_str() == Some("Bolder") {
                    class.push_str(" bold");
                }
                if matches!(element["size"].as_str(), Some("Large" | "ExtraLarge")) {
                    class.push_str(" large");
                }
                if element["isSubtle"].as_bool() == Some(true) {
                    class.push_str(" subtle");
                }
                let text = element["text"].as_str().unwrap_or_default();
                html.push_str(&format!("<p class=\"{class}\">{}</p>", escape(text)));
            }
            "RichTextBlock" => {
                let text: String = element["inlines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.as_str().or_else(|| i["text"].as_str()))
                    .collect();
                html.push_str(&format!("<p class=\"tb\">{}</p>", escape(&text)));
            }
            "FactSet" => {
                html.push_str("<dl class=\"facts\">");
                for fact in element["facts"].as_array().into_iter().flatten() {
                    html.push_str(&format!(
                        "<dt>{}</dt><dd>{}</dd>",
                        escape(fact["title"].as_str().unwrap_or_default()),
                        escape(fact["value"].as_str().unwrap_or_default())
                    ));
                }
                html.push_str("</dl>");
            }
            "Container" | "Column" => {
                html.push_str("<div class=\"container\">");
                children(html, "items");
                html.push_str("</div>");
            }
            "ColumnSet" => {
                html.push_str("<div class=\"columns\">");
                children(html, "columns");
                html.push_str("</div>");
            }
            "Image" => {
                // Remote images are not loaded (the page only loads its own resources).
                let alt = element["altText"].as_str().unwrap_or("image");
                html.push_str(&format!("<p class=\"image\">[{}]</p>", escape(alt)));
            }
            "ActionSet" => self.actions(html, &element["actions"]),
            _ => {}
        }
    }

    fn actions(&self, html: &mut String, actions: &Value) {
        let Some(actions) = actions.as_array().filter(|a| !a.is_empty()) else {
            return;
        };
        html.push_str("<div class=\"actions\">");
        for action in actions {
            let title = action["title"].as_str().unwrap_or("(untitled)");
            match action["type"].as_str().unwrap_or_default() {
                "Action.OpenUrl" => match web_url(action["url"].as_str().unwrap_or_default()) {
                    Some(url) => html.push_str(&format!(
                        "<a class=\"action\" href=\"{}\" target=\"_blank\" rel=\"noopener noreferrer\">{}</a>",
                        attr(&url),
                        escape(title)
                    )),
                    None => html.push_str(&format!(
                        "<button type=\"button\" disabled>{}</button>",
                        escape(title)
                    )),
                },
                kind @ ("Action.Submit" | "Action.Execute") => {
                    let data = action.get("data").cloned().unwrap_or(Value::Null);
                    let verb = action["verb"].as_str().unwrap_or_default();
                    let kind = if kind == "Action.Submit" {
                        "submit"
                    } else {
                        "execute"
                    };
                    html.push_str(&format!(
                        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"kind\" value=\"{kind}\"><input type=\"hidden\" name=\"activity\" value=\"{}\"><input type=\"hidden\" name=\"verb\" value=\"{}\"><input type=\"hidden\" name=\"data\" value=\"{}\"><button type=\"submit\">{}</button></form>",
                        attr(self.post_url),
                        attr(self.activity_id),
                        attr(verb),
                        attr(&data.to_string()),
                        escape(title)
                    ));
                }
                // ShowCard, ToggleVisibility: not supported here; shown, not usable.
                _ => html.push_str(&format!(
                    "<button type=\"button\" disabled>{}</button>",
                    escape(title)
                )),
            }
        }
        html.push_str("</div>");
    }
}

/// The URL if it is an absolute `http(s)` URL (no `javascript:` or `data:` links).
fn web_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cards_render_text_links_and_buttons_escaped() {
        let activity = json!({"type": "message", "text": "<b>hi</b>", "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"type": "AdaptiveCard", "body": [
                {"type": "TextBlock", "text": "Call <script>x</script>", "weight": "Bolder"},
                {"type": "ColumnSet", "columns": [{"type": "Column", "items": [
                    {"type": "TextBlock", "text": "nested"}]}]}
            ], "actions": [
                {"type": "Action.OpenUrl", "title": "Join", "url": "https://example.test/j?a=1&b=2"},
                {"type": "Action.OpenUrl", "title": "Evil", "url": "javascript:alert(1)"},
                {"type": "Action.Submit", "title": "Accept", "data": {"call": "c\"1"}},
                {"type": "Action.Execute", "title": "Decline", "verb": "decline", "data": {}}
            ]}
        }]});
        let html = message("/client/a/card", "17", &activity, None);
        assert!(html.contains("&lt;b&gt;hi&lt;/b&gt;"), "{html}");
        assert!(html.contains("Call &lt;script&gt;x&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("nested"));
        assert!(html.contains(
            "href=\"https://example.test/j?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener noreferrer\">Join</a>"
        ));
        assert!(!html.contains("javascript:"));
        assert!(
            html.contains("value=\"{&quot;call&quot;:&quot;c\\&quot;1&quot;}\""),
            "{html}"
        );
        assert!(html.contains("name=\"verb\" value=\"decline\""));
    }

    #[test]
    fn absurd_nesting_is_cut_off_not_followed() {
        let mut element = json!({"type": "TextBlock", "text": "deep"});
        for _ in 0..40 {
            element = json!({"type": "Container", "items": [element]});
        }
        let card = json!({"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
            "content": {"body": [element]}}]});
        assert!(!message("/p", "1", &card, None).contains("deep"));
    }
}
