//! Conversions between model values and the portable column types (TEXT, BIGINT).

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// A timestamp as Unix milliseconds.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Unix milliseconds back to a timestamp.
pub(crate) fn from_millis(what: &'static str, ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| StoreError::corrupt(what, &format!("timestamp {ms} out of range")))
}

/// A model value as JSON text.
pub(crate) fn to_json(value: &impl Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|error| StoreError::corrupt("json", &error))
}

/// JSON text back to a model value.
pub(crate) fn from_json<T: DeserializeOwned>(
    what: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::corrupt(what, &error))
}

/// A serde unit variant's name (`"slack_to_teams"`), for indexed TEXT columns.
pub(crate) fn label(value: &impl Serialize) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => Ok(text),
        _ => Err(StoreError::corrupt("label", &"not a unit variant")),
    }
}

/// A platform's column value.
pub(crate) fn platform_label(platform: callbridge_model::Platform) -> &'static str {
    platform.as_str()
}

/// A platform column back to the model.
pub(crate) fn parse_platform(text: &str) -> Result<callbridge_model::Platform, StoreError> {
    from_json("platform", &format!("\"{text}\""))
}
