//! Method arguments, merged from the query string and a form or JSON body (slack-api.md §1).

use serde_json::{Map, Value, json};

/// A method's arguments. Form values are strings; JSON bodies keep their types.
#[derive(Debug, Default)]
pub(crate) struct Args {
    values: Map<String, Value>,
}

/// A failed Web API call: `{"ok": false, "error": …}` plus any extra fields.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) error: String,
    pub(crate) extra: Map<String, Value>,
    /// HTTP status; Slack answers logical errors with 200 (§1).
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(error: &str) -> Self {
        Self {
            error: error.to_owned(),
            extra: Map::new(),
            status: 200,
            retry_after: None,
        }
    }

    /// `invalid_arguments` with the `[ERROR] …` message Slack puts in `response_metadata`.
    pub(crate) fn invalid_arguments(message: &str) -> Self {
        Self::new("invalid_arguments").with(
            "response_metadata",
            json!({"messages": [format!("[ERROR] {message}")]}),
        )
    }

    pub(crate) fn missing(field: &str) -> Self {
        Self::invalid_arguments(&format!("missing required field: {field}"))
    }

    pub(crate) fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub(crate) fn status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub(crate) fn ratelimited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new("ratelimited").status(429)
        }
    }
}

/// Shorthand for method handlers.
pub(crate) type ApiResult = Result<Map<String, Value>, ApiError>;

impl Args {
    pub(crate) fn insert(&mut self, key: String, value: Value) {
        self.values.insert(key, value);
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// A string argument; numbers and booleans are rendered as Slack's form encoding would.
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        match self.values.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A non-empty string argument.
    pub(crate) fn nonempty(&self, key: &str) -> Option<String> {
        self.str(key).filter(|s| !s.is_empty())
    }

    /// A required non-empty string, or `invalid_arguments`.
    pub(crate) fn required(&self, key: &str) -> Result<String, ApiError> {
        self.nonempty(key).ok_or_else(|| ApiError::missing(key))
    }

    /// An integer argument; `Err` when present but not an integer.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, ()> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
            Some(_) => Err(()),
        }
    }

    /// A boolean argument: `true`, `1` or JSON `true`.
    pub(crate) fn flag(&self, key: &str) -> bool {
        match self.values.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            Some(Value::String(s)) => s == "true" || s == "1",
            _ => false,
        }
    }

    /// A structured argument: a JSON value in a JSON body, or a URL-encoded JSON string in a
    /// form (§1 "Form bodies"). `Err` when the string is not JSON.
    pub(crate) fn json(&self, key: &str) -> Result<Option<Value>, ()> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}
