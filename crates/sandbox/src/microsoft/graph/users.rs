//! `GET /v1.0/users/{id|upn}`, `GET /v1.0/users?$filter=…&$select=…` and `GET /v1.0/me` (§7).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::auth::{Caller, authenticate};
use super::error::GraphError;
use crate::microsoft::seed::UserSeed;
use crate::microsoft::state::MicrosoftState;

/// Properties returned without `$select`.
const DEFAULT_PROPERTIES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// Properties `$select` may also name.
const EXTRA_PROPERTIES: [&str; 3] = ["accountEnabled", "userType", "usageLocation"];

const READ_PERMISSIONS: [&str; 5] = [
    "User.Read.All",
    "User.ReadWrite.All",
    "User.ReadBasic.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

fn user_json(user: &UserSeed) -> Map<String, Value> {
    let mut map = Map::new();
    let phones: Vec<&String> = user.phone.iter().collect();
    for (key, value) in [
        ("businessPhones", json!(phones)),
        ("displayName", json!(user.display_name)),
        ("givenName", json!(user.given_name)),
        ("id", json!(user.id)),
        ("jobTitle", Value::Null),
        ("mail", json!(user.mail)),
        ("mobilePhone", Value::Null),
        ("officeLocation", Value::Null),
        ("preferredLanguage", json!("en-US")),
        ("surname", json!(user.surname)),
        ("userPrincipalName", json!(user.upn)),
        ("accountEnabled", json!(true)),
        ("userType", json!("Member")),
        ("usageLocation", json!("US")),
    ] {
        map.insert(key.to_owned(), value);
    }
    map
}

/// Parses `$select`, rejecting unknown properties as Graph does.
fn selection(params: &HashMap<String, String>) -> Result<Option<Vec<String>>, GraphError> {
    let Some(select) = params.get("$select") else {
        return Ok(None);
    };
    let mut chosen = Vec::new();
    for name in select.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let known = DEFAULT_PROPERTIES
            .iter()
            .chain(EXTRA_PROPERTIES.iter())
            .find(|p| p.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                GraphError::new(
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    format!(
                        "Could not find a property named '{name}' on type 'microsoft.graph.user'."
                    ),
                )
            })?;
        chosen.push((*known).to_owned());
    }
    Ok(Some(chosen))
}

fn project(user: &UserSeed, select: Option<&[String]>) -> Value {
    let all = user_json(user);
    let names: Vec<String> = match select {
        Some(names) => names.to_vec(),
        None => DEFAULT_PROPERTIES.iter().map(|s| (*s).to_owned()).collect(),
    };
    let mut out = Map::new();
    for name in names {
        if let Some(value) = all.get(&name) {
            out.insert(name, value.clone());
        }
    }
    Value::Object(out)
}

fn context(select: Option<&[String]>, single: bool) -> String {
    let suffix = if single { "/$entity" } else { "" };
    match select {
        Some(names) => format!(
            "https://graph.microsoft.com/v1.0/$metadata#users({}){suffix}",
            names.join(",")
        ),
        None => format!("https://graph.microsoft.com/v1.0/$metadata#users{suffix}"),
    }
}

fn respond(state: &MicrosoftState, result: Result<Value, GraphError>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.into_response_at(state.inner.clock.now_utc()),
    }
}

/// `GET /v1.0/users/{id | userPrincipalName}`.
pub(super) async fn get_user(
    State(state): State<MicrosoftState>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        caller.require(&READ_PERMISSIONS)?;
        let select = selection(&params)?;
        let user = find_in_tenant(&state, &caller, &key)?;
        let mut body = project(user, select.as_deref());
        body["@odata.context"] = json!(context(select.as_deref(), true));
        Ok(body)
    })();
    respond(&state, result)
}

/// `GET /v1.0/me` (delegated tokens only, §1.6).
pub(super) async fn get_me(
    State(state): State<MicrosoftState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        let Some(me) = caller.user_id.clone() else {
            return Err(GraphError::bad_request(
                "/me request is only valid with delegated authentication flow.",
            ));
        };
        let select = selection(&params)?;
        let user = find_in_tenant(&state, &caller, &me)?;
        let mut body = project(user, select.as_deref());
        body["@odata.context"] = json!(context(select.as_deref(), true));
        Ok(body)
    })();
    respond(&state, result)
}

fn find_in_tenant<'s>(
    state: &'s MicrosoftState,
    caller: &Caller,
    key: &str,
) -> Result<&'s UserSeed, GraphError> {
    // `/users('upn')` is the documented form for UPNs that start with `$`.
    let key = key
        .strip_prefix("('")
        .and_then(|k| k.strip_suffix("')"))
        .unwrap_or(key);
    state
        .inner
        .directory
        .tenant(&caller.tenant_id)
        .and_then(|t| {
            t.users
                .iter()
                .find(|u| u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
        })
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                format!("Resource '{key}' does not exist or one of its queried reference-property objects are not present."),
            )
        })
}

/// `GET /v1.0/users` with an optional `$filter` of the form `<property> eq '<value>'`.
pub(super) async fn list_users(
    State(state): State<MicrosoftState>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let result = (|| {
        let caller = authenticate(&state, &headers)?;
        caller.require(&READ_PERMISSIONS)?;
        let select = selection(&params)?;
        let filter = params.get("$filter").map(|f| parse_filter(f)).transpose()?;
        let tenant = state.inner.directory.tenant(&caller.tenant_id);
        let users: Vec<Value> = tenant
            .map(|t| t.users.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|u| {
                filter.as_ref().is_none_or(|(property, value)| {
                    let actual = user_json(u);
                    actual
                        .get(property)
                        .and_then(Value::as_str)
                        .is_some_and(|a| a.eq_ignore_ascii_case(value))
                })
            })
            .map(|u| project(u, select.as_deref()))
            .collect();
        Ok(json!({"@odata.context": context(select.as_deref(), false), "value": users}))
    })();
    respond(&state, result)
}

/// `property eq 'value'` for the properties the default (non-advanced) query path filters on.
fn parse_filter(filter: &str) -> Result<(String, String), GraphError> {
    let unsupported = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            "Unsupported Query.",
        )
    };
    let (property, rest) = filter.trim().split_once(' ').ok_or_else(unsupported)?;
    let rest = rest.trim_start();
    let value = rest
        .strip_prefix("eq ")
        .map(str::trim)
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(unsupported)?;
    let property = ["mail", "userPrincipalName", "id", "displayName"]
        .into_iter()
        .find(|p| p.eq_ignore_ascii_case(property))
        .ok_or_else(unsupported)?;
    Ok((property.to_owned(), value.replace("''", "'")))
}
