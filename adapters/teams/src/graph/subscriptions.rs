//! The Graph calls behind the planner's actions (reference `teams-graph.md` §4.1): create,
//! renew, reauthorize, delete and list presence subscriptions, each answer turned into the
//! planner's [`Outcome`].

use std::collections::BTreeSet;

use callbridge_adapter::{AdapterError, Secret};
use callbridge_model::AadObjectId;
use chrono::{DateTime, SecondsFormat, Utc};
use http::StatusCode;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use super::http::{GraphHttp, GraphReply};
use super::planner::{Existing, Outcome};
use crate::config::TeamsConfig;

/// Where Graph posts, and how it encrypts.
pub(crate) struct Target<'a> {
    pub(crate) config: &'a TeamsConfig,
    pub(crate) client_state: &'a Secret,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    id: String,
    #[serde(default)]
    resource: String,
    expiration_date_time: DateTime<Utc>,
    #[serde(default)]
    notification_url: Option<String>,
    #[serde(default)]
    creator_id: Option<String>,
}

#[derive(Deserialize)]
struct SubscriptionList {
    value: Vec<Subscription>,
}

#[derive(Deserialize)]
struct Me {
    id: String,
}

/// The presence resource over `users` (§4.1).
pub(crate) fn resource(users: &[AadObjectId]) -> String {
    let quoted: Vec<String> = users.iter().map(|user| format!("'{user}'")).collect();
    format!(
        "/communications/presences?$filter=id in ({})",
        quoted.join(",")
    )
}

/// The user ids a presence resource names (both documented forms).
pub(crate) fn resource_users(resource: &str) -> BTreeSet<AadObjectId> {
    if let Some(single) = resource
        .trim_start_matches('/')
        .strip_prefix("communications/presences/")
    {
        return single.parse().into_iter().collect();
    }
    resource
        .split('\'')
        .skip(1)
        .step_by(2)
        .filter_map(|id| id.parse().ok())
        .collect()
}

fn graph_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A failure the planner retries; everything else (reconnect, misconfiguration) goes up.
fn retryable(error: AdapterError) -> Result<Outcome, AdapterError> {
    match error {
        AdapterError::PlatformUnavailable { retry_after, .. } => {
            Ok(Outcome::Failed { retry_after })
        }
        other => Err(other),
    }
}

fn refused(reply: &GraphReply, method: &str) -> Result<Outcome, AdapterError> {
    tracing::warn!(
        platform = "teams",
        method,
        status = reply.status.as_u16(),
        code = reply.code().unwrap_or_default(),
        "subscription call refused"
    );
    metrics::counter!("callbridge_teams_subscription_refused_total", "method" => method.to_owned())
        .increment(1);
    Ok(Outcome::Failed { retry_after: None })
}

pub(crate) async fn create(
    http: &GraphHttp,
    target: &Target<'_>,
    token: &Secret,
    users: &[AadObjectId],
    expires_at: DateTime<Utc>,
) -> Result<Outcome, AdapterError> {
    let config = target.config;
    let mut body = json!({
        "changeType": "updated",
        "notificationUrl": config.public_url("/notifications")?.as_str(),
        "lifecycleNotificationUrl": config.public_url("/lifecycle")?.as_str(),
        "resource": resource(users),
        "expirationDateTime": graph_time(expires_at),
        "clientState": target.client_state.expose(),
        "latestSupportedTlsVersion": "v1_2",
    });
    if let Some(certificate) = &config.notification_certificate {
        body["includeResourceData"] = json!(true);
        body["encryptionCertificate"] = json!(certificate.certificate_base64);
        body["encryptionCertificateId"] = json!(certificate.id);
    }
    let url = config.graph_url("/subscriptions")?;
    let reply = match http
        .send(
            "subscriptions.create",
            Method::POST,
            url,
            token.expose(),
            Some(&body),
            false,
        )
        .await
    {
        Ok(reply) => reply,
        Err(error) => return retryable(error),
    };
    match reply.status {
        StatusCode::CREATED | StatusCode::OK => {
            let created: Subscription = reply.json("subscriptions.create")?;
            Ok(Outcome::Created {
                subscription: created.id,
                expires_at: created.expiration_date_time,
            })
        }
        // The account already holds its one presence subscription for this app.
        StatusCode::FORBIDDEN if reply.code().as_deref() == Some("ExtensionError") => {
            Ok(Outcome::Conflict)
        }
        StatusCode::UNAUTHORIZED => Err(reply.error("subscriptions.create")),
        _ => refused(&reply, "subscriptions.create"),
    }
}

async fn on_existing(
    http: &GraphHttp,
    method: &'static str,
    verb: Method,
    url: url::Url,
    token: &Secret,
    body: Option<&serde_json::Value>,
) -> Result<Result<GraphReply, Outcome>, AdapterError> {
    let reply = match http
        .send(method, verb, url, token.expose(), body, true)
        .await
    {
        Ok(reply) => reply,
        Err(error) => return retryable(error).map(Err),
    };
    match reply.status {
        status if status.is_success() => Ok(Ok(reply)),
        StatusCode::NOT_FOUND => Ok(Err(Outcome::Gone)),
        StatusCode::UNAUTHORIZED => Err(reply.error(method)),
        _ => refused(&reply, method).map(Err),
    }
}

pub(crate) async fn renew(
    http: &GraphHttp,
    config: &TeamsConfig,
    token: &Secret,
    subscription: &str,
    expires_at: DateTime<Utc>,
) -> Result<Outcome, AdapterError> {
    let url = config.graph_url(&format!("/subscriptions/{subscription}"))?;
    let body = json!({ "expirationDateTime": graph_time(expires_at) });
    Ok(
        match on_existing(
            http,
            "subscriptions.renew",
            Method::PATCH,
            url,
            token,
            Some(&body),
        )
        .await?
        {
            Ok(reply) => {
                let renewed: Subscription = reply.json("subscriptions.renew")?;
                Outcome::Renewed {
                    expires_at: renewed.expiration_date_time,
                }
            }
            Err(outcome) => outcome,
        },
    )
}

pub(crate) async fn reauthorize(
    http: &GraphHttp,
    config: &TeamsConfig,
    token: &Secret,
    subscription: &str,
) -> Result<Outcome, AdapterError> {
    let url = config.graph_url(&format!("/subscriptions/{subscription}/reauthorize"))?;
    Ok(
        match on_existing(
            http,
            "subscriptions.reauthorize",
            Method::POST,
            url,
            token,
            None,
        )
        .await?
        {
            Ok(_) => Outcome::Reauthorized,
            Err(outcome) => outcome,
        },
    )
}

pub(crate) async fn delete(
    http: &GraphHttp,
    config: &TeamsConfig,
    token: &Secret,
    subscription: &str,
) -> Result<Outcome, AdapterError> {
    let url = config.graph_url(&format!("/subscriptions/{subscription}"))?;
    Ok(
        match on_existing(
            http,
            "subscriptions.delete",
            Method::DELETE,
            url,
            token,
            None,
        )
        .await?
        {
            Ok(_) => Outcome::Deleted,
            Err(outcome) => outcome,
        },
    )
}

/// The subscriptions the signed-in account created to our notification URL.
pub(crate) async fn inventory(
    http: &GraphHttp,
    config: &TeamsConfig,
    token: &Secret,
) -> Result<Outcome, AdapterError> {
    let me = match http
        .send(
            "users.me",
            Method::GET,
            config.graph_url("/me")?,
            token.expose(),
            None,
            true,
        )
        .await
    {
        Ok(reply) => reply.json::<Me>("users.me")?,
        Err(error) => return retryable(error),
    };
    let list = match http
        .send(
            "subscriptions.list",
            Method::GET,
            config.graph_url("/subscriptions")?,
            token.expose(),
            None,
            true,
        )
        .await
    {
        Ok(reply) => reply.json::<SubscriptionList>("subscriptions.list")?,
        Err(error) => return retryable(error),
    };
    let ours = config.public_url("/notifications")?;
    let existing = list
        .value
        .into_iter()
        .filter(|found| found.notification_url.as_deref() == Some(ours.as_str()))
        .filter(|found| {
            found
                .creator_id
                .as_deref()
                .is_some_and(|creator| creator.eq_ignore_ascii_case(&me.id))
        })
        .map(|found| Existing {
            users: resource_users(&found.resource),
            id: found.id,
            expires_at: found.expiration_date_time,
        })
        .collect();
    Ok(Outcome::Inventoried(existing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_trip_their_users() {
        let users: Vec<AadObjectId> = [
            "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
            "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c",
        ]
        .iter()
        .map(|id| id.parse().unwrap())
        .collect();
        let text = resource(&users);
        assert_eq!(resource_users(&text), users.iter().copied().collect());
        assert_eq!(
            resource_users("/communications/presences/3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b").len(),
            1
        );
    }
}
