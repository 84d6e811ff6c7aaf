//! Newtype identifiers. Each parses from text once, at the edge, and is valid from then on:
//! code that holds a `SlackUserId` never re-checks it.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::ParseError;
use crate::text_serde::text_serde;

/// Declares a UUID-backed id: random or time-ordered generation, text form is the hyphenated UUID.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(text)
                    .map(Self)
                    .map_err(|_| ParseError::malformed(stringify!($name), "must be a UUID", text))
            }
        }

        text_serde!($name, str::parse, { "type": "string", "format": "uuid" });
    };
}

/// Declares a text id checked by `$check`, with a JSON Schema `pattern` matching the same rule.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, pattern = $pattern:literal, check = $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let check: fn(&str) -> Result<(), &'static str> = $check;
                check(text)
                    .map(|()| Self(text.to_owned()))
                    .map_err(|reason| ParseError::malformed(stringify!($name), reason, text))
            }
        }

        text_serde!($name, str::parse, { "type": "string", "pattern": $pattern });
    };
}

uuid_id!(
    /// One bridged call, from request to CDR.
    CallId
);
uuid_id!(
    /// One leg of a call: the part that reaches one user on one platform.
    LegId
);
uuid_id!(
    /// An organisation served by this gateway (one Slack workspace paired with one Teams tenant).
    TenantId
);
uuid_id!(
    /// A Microsoft Entra tenant.
    TeamsTenantId
);
uuid_id!(
    /// A Microsoft Entra user object id.
    AadObjectId
);

impl CallId {
    /// A fresh id; time-ordered so that ids sort by creation.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl LegId {
    /// A fresh id; time-ordered so that ids sort by creation.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }
}

impl TenantId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }
}

/// Slack ids are an uppercase prefix letter followed by uppercase letters and digits.
fn slack_id(text: &str, prefixes: &[char], reason: &'static str) -> Result<(), &'static str> {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if prefixes.contains(&first) => {}
        _ => return Err(reason),
    }
    if !(3..=32).contains(&text.len()) {
        return Err("must be 3 to 32 characters");
    }
    if chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        Ok(())
    } else {
        Err("must be uppercase letters and digits")
    }
}

text_id!(
    /// A Slack workspace (`T…`) or Enterprise Grid organisation (`E…`).
    SlackTeamId,
    pattern = "^[TE][A-Z0-9]{2,31}$",
    check = |text| slack_id(text, &['T', 'E'], "must start with T or E")
);
text_id!(
    /// A Slack user (`U…`, or `W…` for Enterprise Grid users).
    SlackUserId,
    pattern = "^[UW][A-Z0-9]{2,31}$",
    check = |text| slack_id(text, &['U', 'W'], "must start with U or W")
);
text_id!(
    /// A telephone number in E.164 form (`+` then up to 15 digits, no leading zero).
    PhoneNumber,
    pattern = "^\\+[1-9][0-9]{1,14}$",
    check = |text| {
        let digits = text.strip_prefix('+').ok_or("must start with +")?;
        if !(2..=15).contains(&digits.len()) {
            return Err("must have 2 to 15 digits");
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be digits after +");
        }
        if digits.starts_with('0') {
            return Err("country code cannot start with 0");
        }
        Ok(())
    }
);
text_id!(
    /// An id a platform gave one of its events or webhook deliveries; the key of the inbox
    /// that makes side effects happen once under retries.
    EventId,
    pattern = "^[\\x21-\\x7e]{1,200}$",
    check = |text| {
        if text.is_empty() || text.len() > 200 {
            return Err("must be 1 to 200 characters");
        }
        if text.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(())
        } else {
            Err("must be printable ASCII without spaces")
        }
    }
);
text_id!(
    /// An email address or user principal name, lowercased: how people name each other across
    /// the two directories (`/call alice@contoso.com`).
    Email,
    pattern = "^[^@\\sA-Z]+@[^@\\sA-Z]+\\.[^@\\sA-Z]+$",
    check = |text| {
        if text.len() > 254 {
            return Err("must be at most 254 characters");
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_ascii_uppercase()) {
            return Err("must be lowercase without spaces");
        }
        let (local, domain) = text.split_once('@').ok_or("must contain @")?;
        if local.is_empty() || domain.contains('@') {
            return Err("must have one @ with text before it");
        }
        let (host, tld) = domain.rsplit_once('.').ok_or("domain must contain a dot")?;
        if host.is_empty() || tld.is_empty() {
            return Err("domain must have text on both sides of its last dot");
        }
        Ok(())
    }
);

impl Email {
    /// Parses an address typed by a person, lowercasing it first (addresses compare case-blind).
    pub fn parse_lenient(text: &str) -> Result<Self, ParseError> {
        text.trim().to_lowercase().parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_ids_parse_real_formats_and_reject_others() {
        assert!("T0123ABCD".parse::<SlackTeamId>().is_ok());
        assert!("E012AB3CD".parse::<SlackTeamId>().is_ok());
        assert!("U012AB3CD".parse::<SlackUserId>().is_ok());
        assert!("W012AB3CD".parse::<SlackUserId>().is_ok());
        assert!("u012ab3cd".parse::<SlackUserId>().is_err());
        assert!("T012AB3CD".parse::<SlackUserId>().is_err());
        assert!("U".parse::<SlackUserId>().is_err());
        assert!("U01 2".parse::<SlackUserId>().is_err());
    }

    #[test]
    fn phone_numbers_must_be_e164() {
        assert!("+14155550100".parse::<PhoneNumber>().is_ok());
        for bad in [
            "14155550100",
            "+0123",
            "+1",
            "+1415555010012345",
            "+1-415",
            "",
        ] {
            assert!(bad.parse::<PhoneNumber>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn parse_errors_name_the_rule_but_not_the_text() {
        let error = "alice@contoso.com".parse::<PhoneNumber>().unwrap_err();
        let message = error.to_string();
        assert!(message.contains("PhoneNumber"));
        assert!(
            !message.contains("alice"),
            "personal data leaked: {message}"
        );
    }

    #[test]
    fn emails_are_lowercased_when_typed_by_people() {
        let email = Email::parse_lenient("  Alice@Contoso.com ").unwrap();
        assert_eq!(email.as_str(), "alice@contoso.com");
        assert!("Alice@contoso.com".parse::<Email>().is_err());
        assert!("alice@localhost".parse::<Email>().is_err());
        assert!("@contoso.com".parse::<Email>().is_err());
    }

    #[test]
    fn ids_round_trip_through_json_and_reject_bad_text() {
        let id = CallId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<CallId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CallId>("\"not-a-uuid\"").is_err());
        assert!(serde_json::from_str::<SlackUserId>("\"X1\"").is_err());
    }

    #[test]
    fn call_ids_sort_by_creation() {
        let first = CallId::generate();
        let second = CallId::generate();
        assert!(first < second);
    }
}
