//! Reading the bodies Slack sends, strictly: URL-encoded forms that must be UTF-8 and carry
//! each field once, and the fields a handler needs present and non-empty. Every failure is a
//! [`AdapterError::Malformed`] naming the field, never a panic.

use std::collections::HashMap;

use callbridge_adapter::AdapterError;
use http::HeaderMap;

/// Bodies larger than this are refused before anything reads them; Slack's own are a few KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A parsed form.
#[derive(Debug)]
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    /// Parses `application/x-www-form-urlencoded` bytes.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, AdapterError> {
        std::str::from_utf8(body)
            .map_err(|_| AdapterError::Malformed("form body is not UTF-8".to_owned()))?;
        let mut fields = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(body) {
            if fields
                .insert(key.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(AdapterError::Malformed(format!(
                    "form field {} appears twice",
                    printable(&key)
                )));
            }
        }
        Ok(Self(fields))
    }

    /// A field that must be there and non-empty.
    pub(crate) fn required(&self, name: &str) -> Result<&str, AdapterError> {
        self.optional(name)
            .ok_or_else(|| AdapterError::Malformed(format!("form field {name} is missing")))
    }

    /// A field that may be absent; empty counts as absent.
    pub(crate) fn optional(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A field that may be present but empty (`text` of a bare `/call`).
    pub(crate) fn text(&self, name: &str) -> Result<&str, AdapterError> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| AdapterError::Malformed(format!("form field {name} is missing")))
    }
}

/// Refuses a body over [`MAX_BODY_BYTES`].
pub(crate) fn check_size(body: &[u8]) -> Result<(), AdapterError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(AdapterError::Malformed(format!(
            "body of {} bytes exceeds the {MAX_BODY_BYTES}-byte limit",
            body.len()
        )));
    }
    Ok(())
}

/// The media type of a request, lowercased, without parameters.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Requires a media type.
pub(crate) fn expect_media_type(headers: &HeaderMap, expected: &str) -> Result<(), AdapterError> {
    let found = media_type(headers);
    if found == expected {
        Ok(())
    } else {
        Err(AdapterError::Malformed(format!(
            "expected {expected}, got {}",
            printable(&found)
        )))
    }
}

/// A short, printable rendering of untrusted text for an error message.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .take(40)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// A query string's parameters.
pub(crate) fn query(query: Option<&str>) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_strict() {
        assert!(Form::parse(b"a=1&a=2").is_err());
        assert!(Form::parse(&[b'a', b'=', 0xff]).is_err());
        let form = Form::parse(b"a=1&b=").unwrap();
        assert_eq!(form.required("a").unwrap(), "1");
        assert!(form.required("b").is_err());
        assert_eq!(form.text("b").unwrap(), "");
        assert!(form.text("c").is_err());
    }
}
