//! Scope strings: `.default` requests and delegated permission lists.

/// The Graph resource URI.
pub(crate) const GRAPH_RESOURCE: &str = "https://graph.microsoft.com";
/// The Bot Framework resource URI.
pub(crate) const BOT_RESOURCE: &str = "https://api.botframework.com";

/// Scopes that concern the sign-in itself rather than a resource.
const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The resource of a client-credentials `scope`, which must be exactly `<resource>/.default`.
pub(crate) fn default_scope_resource(scope: &str) -> Option<&'static str> {
    let mut parts = scope.split_whitespace();
    let only = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let resource = only.strip_suffix("/.default")?;
    [GRAPH_RESOURCE, BOT_RESOURCE]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(resource.trim_end_matches('/')))
}

/// Splits a delegated scope string into OIDC scopes and Graph permission names.
/// `None` if a scope names a resource other than Graph (one resource per request).
pub(crate) fn delegated_scopes(scope: &str) -> Option<Vec<String>> {
    let mut scopes = Vec::new();
    for item in scope.split_whitespace() {
        if OIDC_SCOPES.iter().any(|s| s.eq_ignore_ascii_case(item)) {
            scopes.push(item.to_ascii_lowercase());
            continue;
        }
        let name = match item.rsplit_once('/') {
            Some((resource, name)) if resource.eq_ignore_ascii_case(GRAPH_RESOURCE) => name,
            Some(_) => return None,
            None => item,
        };
        if name.is_empty() || name == ".default" && scope.split_whitespace().count() > 1 {
            return None;
        }
        scopes.push(name.to_owned());
    }
    Some(scopes)
}

/// The Graph permissions of a scope list (for `scp`), without the OIDC ones.
pub(crate) fn graph_permissions(scopes: &[String]) -> Vec<String> {
    scopes
        .iter()
        .filter(|s| !OIDC_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect()
}

/// The scope string reported back, with the Graph resource prefix as Entra does.
pub(crate) fn scope_string(scopes: &[String]) -> String {
    scopes
        .iter()
        .map(|s| {
            if OIDC_SCOPES.contains(&s.as_str()) {
                s.clone()
            } else {
                format!("{GRAPH_RESOURCE}/{s}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scope_must_be_alone() {
        assert_eq!(
            default_scope_resource("https://graph.microsoft.com/.default"),
            Some(GRAPH_RESOURCE)
        );
        assert_eq!(
            default_scope_resource("https://api.botframework.com/.default"),
            Some(BOT_RESOURCE)
        );
        assert_eq!(
            default_scope_resource("https://graph.microsoft.com/.default openid"),
            None
        );
        assert_eq!(
            default_scope_resource("https://graph.microsoft.com/User.Read"),
            None
        );
    }

    #[test]
    fn delegated_scopes_reject_a_second_resource() {
        let scopes =
            delegated_scopes("openid offline_access https://graph.microsoft.com/Presence.Read.All")
                .unwrap();
        assert_eq!(graph_permissions(&scopes), vec!["Presence.Read.All"]);
        assert!(delegated_scopes("User.Read https://outlook.office.com/Mail.Read").is_none());
    }
}
