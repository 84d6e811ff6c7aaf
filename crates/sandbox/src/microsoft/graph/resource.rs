//! Presence subscription `resource` strings (§4.1).

/// Most users one presence subscription may cover.
pub(crate) const MAX_SUBSCRIBED_IDS: usize = 650;

/// The user ids of `/communications/presences/{id}` or
/// `/communications/presences?$filter=id in ('a','b')`.
pub(crate) fn presence_ids(resource: &str) -> Result<Vec<String>, String> {
    let path = resource.trim().trim_start_matches('/');
    let rest = path
        .strip_prefix("communications/presences")
        .ok_or_else(|| format!("Unsupported resource '{resource}' for presence subscriptions."))?;
    let ids: Vec<String> = if let Some(id) = rest.strip_prefix('/') {
        vec![id.to_owned()]
    } else if let Some(filter) = rest.strip_prefix("?$filter=") {
        let list = filter
            .trim()
            .strip_prefix("id in")
            .map(str::trim)
            .and_then(|l| l.strip_prefix('('))
            .and_then(|l| l.strip_suffix(')'))
            .ok_or_else(|| format!("Unsupported filter in resource '{resource}'."))?;
        list.split(',')
            .map(|item| {
                item.trim()
                    .strip_prefix('\'')
                    .and_then(|i| i.strip_suffix('\''))
                    .map(str::to_owned)
                    .ok_or_else(|| format!("Malformed id list in resource '{resource}'."))
            })
            .collect::<Result<_, _>>()?
    } else {
        return Err(format!(
            "Unsupported resource '{resource}' for presence subscriptions."
        ));
    };
    if ids.is_empty() || ids.len() > MAX_SUBSCRIBED_IDS {
        return Err(format!(
            "A presence subscription covers 1 to {MAX_SUBSCRIBED_IDS} ids; got {}.",
            ids.len()
        ));
    }
    if let Some(bad) = ids.iter().find(|id| uuid::Uuid::parse_str(id).is_err()) {
        return Err(format!("'{bad}' is not a valid user id."));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";

    #[test]
    fn both_documented_forms_parse() {
        assert_eq!(
            presence_ids(&format!("/communications/presences/{A}")).unwrap(),
            vec![A]
        );
        let two = presence_ids(&format!(
            "/communications/presences?$filter=id in ('{A}','{A}')"
        ))
        .unwrap();
        assert_eq!(two.len(), 2);
        assert!(presence_ids("/users/x/messages").is_err());
        assert!(presence_ids("/communications/presences?$filter=id in ('nope')").is_err());
        let many: Vec<String> = (0..651).map(|_| format!("'{A}'")).collect();
        let too_many = format!(
            "/communications/presences?$filter=id in ({})",
            many.join(",")
        );
        assert!(presence_ids(&too_many).is_err());
    }
}
