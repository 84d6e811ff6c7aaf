//! One implementation of serde and JSON Schema for every type whose wire form is a checked
//! string: serialized through `Display`, deserialized through its parser, so the rules that
//! `FromStr`/`parse` enforce hold for JSON input too.

/// Implements `Serialize` (via `Display`, or via an `as_str` accessor for types that must not
/// be `Display` because they hold keys or personal data), `Deserialize` (via `$parse`) and
/// `JsonSchema` (`$schema`, a `json_schema!` body) for `$name`.
macro_rules! text_serde {
    ($name:ident, $parse:expr, $schema:tt) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
        $crate::text_serde::text_serde!(@de $name, $parse, $schema);
    };
    ($name:ident, $parse:expr, as_str, $schema:tt) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        $crate::text_serde::text_serde!(@de $name, $parse, $schema);
    };
    (@de $name:ident, $parse:expr, $schema:tt) => {

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
                let parse: fn(&str) -> Result<Self, $crate::ParseError> = $parse;
                parse(&text).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

pub(crate) use text_serde;
