//! What follows `/call` (slack-api.md §3): an escaped mention `<@U…|name>`, an email address
//! (bare or as Slack's escaped `<mailto:a@b|a@b>`), a `+E164` number, or nothing / `help`.

use callbridge_model::{Email, PhoneNumber, SlackUserId};

/// What the person asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallText {
    /// `/call` alone or `/call help`.
    Help,
    /// `/call @user`, escaped by Slack as `<@U…>` or `<@U…|name>`.
    Mention(SlackUserId),
    /// `/call name@company.com`.
    Email(Email),
    /// `/call +14155550100`.
    Phone(PhoneNumber),
}

/// Why the text names nobody callbridge can call, phrased for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unparseable(pub &'static str);

/// Text longer than this is not a target anyone typed by hand.
const MAX_TEXT: usize = 512;

/// Parses the text of a `/call` command.
pub fn parse(text: &str) -> Result<CallText, Unparseable> {
    let text = text.trim();
    if text.len() > MAX_TEXT {
        return Err(Unparseable("That is too long to be a person or a number."));
    }
    if text.is_empty() || text.eq_ignore_ascii_case("help") {
        return Ok(CallText::Help);
    }
    if text.split_whitespace().count() > 1 {
        return Err(Unparseable(
            "Call one person at a time: `/call @name`, `/call name@company.com` or `/call +14155550100`.",
        ));
    }
    if let Some(inner) = text.strip_prefix('<').and_then(|t| t.strip_suffix('>')) {
        return escaped(inner);
    }
    if text.starts_with('@') {
        return Err(Unparseable(
            "That mention reached callbridge unescaped; pick the person from Slack's list as you type `@`.",
        ));
    }
    if text.starts_with('+') {
        return text
            .parse::<PhoneNumber>()
            .map(CallText::Phone)
            .map_err(|_| {
                Unparseable("Phone numbers must be in international form, like +14155550100.")
            });
    }
    if text.contains('@') {
        return Email::parse_lenient(text)
            .map(CallText::Email)
            .map_err(|_| Unparseable("That does not look like an email address."));
    }
    Err(Unparseable(
        "Name someone as `@name`, `name@company.com` or `+14155550100`.",
    ))
}

/// The inside of `<…>`: `@U…[|name]`, `mailto:a@b[|a@b]`, `tel:+1…[|…]`; channels and links are
/// not people.
fn escaped(inner: &str) -> Result<CallText, Unparseable> {
    let id = inner.split_once('|').map_or(inner, |(id, _label)| id);
    if let Some(user) = id.strip_prefix('@') {
        return user
            .parse::<SlackUserId>()
            .map(CallText::Mention)
            .map_err(|_| Unparseable("That mention is not a Slack user."));
    }
    if let Some(address) = id.strip_prefix("mailto:") {
        return Email::parse_lenient(address)
            .map(CallText::Email)
            .map_err(|_| Unparseable("That does not look like an email address."));
    }
    if let Some(number) = id.strip_prefix("tel:") {
        return number
            .parse::<PhoneNumber>()
            .map(CallText::Phone)
            .map_err(|_| {
                Unparseable("Phone numbers must be in international form, like +14155550100.")
            });
    }
    if id.starts_with('#') || id.starts_with('!') {
        return Err(Unparseable(
            "Channels and groups cannot be called; name one person.",
        ));
    }
    Err(Unparseable(
        "Name someone as `@name`, `name@company.com` or `+14155550100`.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form_parses() {
        assert_eq!(parse(""), Ok(CallText::Help));
        assert_eq!(parse("  HELP "), Ok(CallText::Help));
        assert_eq!(
            parse("<@U012ABCDEF|ernie>"),
            Ok(CallText::Mention("U012ABCDEF".parse().unwrap()))
        );
        assert_eq!(
            parse("<@W012ABCDEF>"),
            Ok(CallText::Mention("W012ABCDEF".parse().unwrap()))
        );
        assert_eq!(
            parse("Alice@Contoso.com"),
            Ok(CallText::Email("alice@contoso.com".parse().unwrap()))
        );
        assert_eq!(
            parse("<mailto:alice@contoso.com|alice@contoso.com>"),
            Ok(CallText::Email("alice@contoso.com".parse().unwrap()))
        );
        assert_eq!(
            parse("+14155550100"),
            Ok(CallText::Phone("+14155550100".parse().unwrap()))
        );
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        for bad in [
            "@ernie",
            "<#C012|general>",
            "<https://x.example>",
            "+0123",
            "bob",
            "a@b",
            "<@u1>",
            "a b",
            &"x".repeat(600),
        ] {
            assert!(parse(bad).is_err(), "{bad} accepted");
        }
    }
}
