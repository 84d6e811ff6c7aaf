//! Reading the few header values the trunk needs from rsipstack messages: by name (compact
//! forms included), tags, URI users and History-Info. Everything here is input: nothing
//! unwraps, and odd text yields `None`.

use callbridge_model::PhoneNumber;
use rsipstack::sip::headers::Headers;

use crate::event::HistoryEntry;

/// The compact form of a header name (RFC 3261 §7.3.3).
fn compact(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "call-id" => "i",
        "contact" => "m",
        "content-type" => "c",
        "from" => "f",
        "to" => "t",
        "via" => "v",
        "content-length" => "l",
        _ => return None,
    })
}

fn matches(have: &str, want: &str) -> bool {
    have.eq_ignore_ascii_case(want) || compact(want).is_some_and(|c| have.eq_ignore_ascii_case(c))
}

/// The first value of header `name`.
pub(crate) fn first<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| matches(h.name(), name))
        .map(|h| h.value())
}

/// Every value of header `name`, comma-separated lists split.
pub(crate) fn all(headers: &Headers, name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|h| matches(h.name(), name))
        .flat_map(|h| split_list(h.value()))
        .collect()
}

/// Splits a header list at commas outside `<…>` and quotes.
fn split_list(value: &str) -> Vec<String> {
    let (mut out, mut current, mut angle, mut quoted) = (Vec::new(), String::new(), 0u32, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle += 1,
            '>' if !quoted => angle = angle.saturating_sub(1),
            ',' if !quoted && angle == 0 => {
                out.push(current.trim().to_owned());
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

/// A header parameter (`;tag=…`) outside the `<…>` URI.
pub(crate) fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let after = value.rfind('>').map_or(value, |i| &value[i + 1..]);
    after.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The URI of a name-addr (`"Name" <sip:…>;tag=x` → `sip:…`).
pub(crate) fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(start), Some(end)) if start < end => &value[start + 1..end],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The display name of a name-addr, unquoted.
pub(crate) fn display_name(value: &str) -> Option<String> {
    let start = value.find('<')?;
    let name = value[..start].trim().trim_matches('"').trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// The user part of a `sip:`/`tel:` URI.
pub(crate) fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let user = match rest.split_once('@') {
        Some((user, _)) => user,
        None if uri.starts_with("tel:") => rest,
        None => return None,
    };
    user.split(';').next()
}

/// The number in a URI, when its user part is E.164.
pub(crate) fn uri_number(uri: &str) -> Option<PhoneNumber> {
    uri_user(uri).and_then(|u| u.parse().ok())
}

/// The host of a `sip:` URI.
#[cfg(test)]
pub(crate) fn uri_host(uri: &str) -> Option<&str> {
    uri_host_port(uri).map(|(host, _)| host)
}

/// The host (IPv6 without its brackets) and the port, if any, of a `sip:` URI.
pub(crate) fn uri_host_port(uri: &str) -> Option<(&str, Option<u16>)> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host_port = host_port.split([';', '?']).next()?;
    if let Some(v6) = host_port.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return Some((host, after.strip_prefix(':').and_then(|p| p.parse().ok())));
    }
    Some(match host_port.split_once(':') {
        Some((host, port)) => (host, port.parse().ok()),
        None => (host_port, None),
    })
}

/// A name-addr header value without its `name` parameter (`<sip:a@b>;tag=x` → `<sip:a@b>`).
/// Parameters inside `<…>` belong to the URI and stay.
pub(crate) fn without_param(value: &str, name: &str) -> String {
    let split = value
        .rfind('>')
        .map_or_else(|| value.find(';').unwrap_or(value.len()), |i| i + 1);
    let (head, params) = value.split_at(split);
    let mut out = head.to_owned();
    for p in params.split(';').skip(1) {
        let key = p.split_once('=').map_or(p, |(k, _)| k);
        if !key.trim().eq_ignore_ascii_case(name) {
            out.push(';');
            out.push_str(p);
        }
    }
    out
}

/// History-Info entries (RFC 4244), sorted by index.
pub(crate) fn history_info(headers: &Headers) -> Vec<HistoryEntry> {
    let mut entries: Vec<HistoryEntry> = all(headers, "History-Info")
        .iter()
        .filter_map(|value| {
            let full = uri_of(value);
            let (uri, embedded) = full.split_once('?').unwrap_or((full, ""));
            let cause = embedded
                .split('&')
                .find_map(|h| h.strip_prefix("Reason="))
                .and_then(|reason| {
                    reason
                        .split("%3B")
                        .chain(reason.split(';'))
                        .find_map(|p| p.trim().strip_prefix("cause="))
                        .or_else(|| reason.split_once("cause%3D").map(|(_, rest)| rest))
                })
                .and_then(|c| {
                    c.chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                        .parse()
                        .ok()
                });
            Some(HistoryEntry {
                uri: uri.to_owned(),
                number: uri_number(uri),
                index: param(value, "index")?.to_owned(),
                cause,
            })
        })
        .collect();
    entries.sort_by_key(|e| index_key(&e.index));
    entries
}

fn index_key(index: &str) -> Vec<u32> {
    index.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parts() {
        let to = "\"Alice\" <sip:+14255550101@sip.pstnhub.microsoft.com;user=phone>;tag=ab";
        assert_eq!(param(to, "tag"), Some("ab"));
        assert_eq!(display_name(to).as_deref(), Some("Alice"));
        let uri = uri_of(to);
        assert_eq!(uri_user(uri), Some("+14255550101"));
        assert_eq!(uri_host(uri), Some("sip.pstnhub.microsoft.com"));
        assert_eq!(
            uri_number("tel:+14255550101")
                .map(|n| n.to_string())
                .as_deref(),
            Some("+14255550101")
        );
        assert!(uri_number("sip:alice@example.com").is_none());
        assert_eq!(uri_host("sip:[::1]:5061"), Some("::1"));
        assert_eq!(param("<sip:x@y;tag=no>", "tag"), None);
        assert_eq!(
            uri_host_port("sip:sip.pstnhub.microsoft.com:5061;transport=tls"),
            Some(("sip.pstnhub.microsoft.com", Some(5061)))
        );
        assert_eq!(uri_host_port("sip:+1@h;user=phone"), Some(("h", None)));
        assert_eq!(uri_host_port("sip:[::1]:5061"), Some(("::1", Some(5061))));
    }

    #[test]
    fn a_tag_is_removed_and_uri_parameters_stay() {
        assert_eq!(
            without_param("\"Bob\" <sip:+1@sbc;user=phone>;tag=ab;x=1", "tag"),
            "\"Bob\" <sip:+1@sbc;user=phone>;x=1"
        );
        assert_eq!(without_param("<sip:a@b;tag=no>", "tag"), "<sip:a@b;tag=no>");
        assert_eq!(without_param("sip:a@b;tag=x", "tag"), "sip:a@b");
    }

    #[test]
    fn lists_split_outside_brackets() {
        let parts = split_list("<sip:a@b;x=1,2>;index=1, <sip:c@d>;index=1.1");
        assert_eq!(
            parts,
            vec!["<sip:a@b;x=1,2>;index=1", "<sip:c@d>;index=1.1"]
        );
    }
}
