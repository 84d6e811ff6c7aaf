//! Inbound Graph change and lifecycle notifications (reference `teams-graph.md` §4.2–§4.7):
//! the validation handshake, the `clientState` check on every item (constant time; a wrong or
//! missing one changes nothing and is counted), the `validationTokens` of rich batches, the
//! decryption of rich items into presence events, and the signals that need async work
//! (re-read after a basic item, reauthorize, recreate).

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::digest;
use callbridge_adapter::{AdapterError, InboundReply, Secret};
use callbridge_model::{AadObjectId, EventId, PlatformEvent, TeamsTenantId, UserRef};
use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode};
use serde::Deserialize;

use super::presence::GraphPresence;
use super::rich::{Decryptor, EncryptedContent};
use super::validation_tokens::ValidationKeys;

/// Work a notification asks for beyond the events it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Re-read this user (a basic notification, or an item that could not be decrypted).
    Reread(AadObjectId),
    /// `reauthorizationRequired` for this subscription.
    Reauthorize(String),
    /// `subscriptionRemoved`: recreate.
    Removed(String),
    /// `missed`: re-read the subscription's users.
    Missed(String),
}

/// What a batch yielded.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) events: Vec<PlatformEvent>,
    /// The states the events carry, in Graph's words, for drift detection.
    pub(crate) observed: Vec<(AadObjectId, GraphPresence)>,
    pub(crate) signals: Vec<Signal>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    value: Vec<Item>,
    #[serde(default)]
    validation_tokens: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    subscription_id: Option<String>,
    #[serde(default)]
    client_state: Option<String>,
    #[serde(default)]
    lifecycle_event: Option<String>,
    #[serde(default)]
    resource_data: Option<ResourceData>,
    #[serde(default)]
    encrypted_content: Option<EncryptedContent>,
    #[serde(default)]
    tenant_id: Option<String>,
}

#[derive(Deserialize)]
struct ResourceData {
    id: String,
}

/// What checking a batch needs.
pub(crate) struct Checks<'a> {
    pub(crate) tenant: TeamsTenantId,
    pub(crate) client_state: &'a Secret,
    pub(crate) decryptor: Option<&'a Decryptor>,
    pub(crate) keys: &'a ValidationKeys,
}

/// The validation handshake: `validationToken` in the query, echoed URL-decoded as
/// `text/plain` with 200 (§4.2). `None` when the request is not a handshake.
pub(crate) fn handshake(query: Option<&str>) -> Option<InboundReply> {
    let token = url::form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "validationToken")
        .map(|(_, value)| value.into_owned())?;
    let mut reply = InboundReply::with_body(StatusCode::OK, "text/plain; charset=utf-8", token);
    // The token is opaque and echoed verbatim: never let a browser sniff it into markup.
    reply.headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    Some(reply)
}

/// The `kid`s named by a batch's validation tokens (to fetch unknown keys before checking).
pub(crate) fn validation_kids(body: &[u8]) -> Vec<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Tokens {
        #[serde(default)]
        validation_tokens: Vec<String>,
    }
    serde_json::from_slice::<Tokens>(body)
        .map(|tokens| {
            tokens
                .validation_tokens
                .iter()
                .filter_map(|token| ValidationKeys::kid(token))
                .collect()
        })
        .unwrap_or_default()
}

fn rejected(reason: &'static str) {
    metrics::counter!("callbridge_teams_notifications_rejected_total", "reason" => reason)
        .increment(1);
}

/// Checks and translates a notification batch received at `received_at`.
pub(crate) fn parse(
    body: &[u8],
    checks: &Checks<'_>,
    received_at: DateTime<Utc>,
) -> Result<Parsed, AdapterError> {
    let batch: Batch = serde_json::from_slice(body).map_err(|_| {
        rejected("malformed");
        AdapterError::Malformed("notification batch is not Graph's JSON".to_owned())
    })?;
    let trusted: Vec<Item> = batch
        .value
        .into_iter()
        .filter(|item| {
            let ok = item.client_state.as_deref().is_some_and(|state| {
                verify_slices_are_equal(state.as_bytes(), checks.client_state.expose().as_bytes())
                    .is_ok()
            });
            if !ok {
                rejected("client_state");
            }
            ok
        })
        .filter(|item| {
            let ok = item
                .tenant_id
                .as_deref()
                .is_none_or(|tenant| tenant.eq_ignore_ascii_case(&checks.tenant.to_string()));
            if !ok {
                rejected("tenant");
            }
            ok
        })
        .collect();
    if trusted.is_empty() {
        return Err(AdapterError::Unauthenticated("notification clientState"));
    }
    let rich = trusted.iter().any(|item| item.encrypted_content.is_some());
    if rich {
        let valid = batch
            .validation_tokens
            .iter()
            .any(|token| checks.keys.check(token, received_at).is_ok());
        if !valid {
            rejected("validation_tokens");
            return Err(AdapterError::Unauthenticated(
                "notification validationTokens",
            ));
        }
    }
    let mut parsed = Parsed::default();
    for item in trusted {
        translate(item, checks, &mut parsed)?;
    }
    Ok(parsed)
}

fn translate(item: Item, checks: &Checks<'_>, parsed: &mut Parsed) -> Result<(), AdapterError> {
    if let Some(event) = item.lifecycle_event.as_deref() {
        let Some(subscription) = item.subscription_id else {
            rejected("lifecycle_without_subscription");
            return Ok(());
        };
        match event {
            "reauthorizationRequired" => parsed.signals.push(Signal::Reauthorize(subscription)),
            "subscriptionRemoved" => parsed.signals.push(Signal::Removed(subscription)),
            "missed" => parsed.signals.push(Signal::Missed(subscription)),
            _ => rejected("unknown_lifecycle_event"),
        }
        return Ok(());
    }
    let user = item
        .resource_data
        .as_ref()
        .and_then(|data| data.id.parse::<AadObjectId>().ok());
    let Some(content) = item.encrypted_content else {
        // Basic notifications carry no state since 2024 (§4.4): read it.
        match user {
            Some(user) => parsed.signals.push(Signal::Reread(user)),
            None => rejected("resource_data"),
        }
        return Ok(());
    };
    match decrypt(&content, checks) {
        Ok(presence) => {
            let Ok(id) = presence.id.parse::<AadObjectId>() else {
                rejected("resource_data");
                return Ok(());
            };
            let Some(event_id) = event_id(&content.data) else {
                rejected("event_id");
                return Ok(());
            };
            parsed.events.push(PlatformEvent::PresenceChanged {
                event_id,
                user: UserRef::Teams {
                    tenant: checks.tenant,
                    user: id,
                },
                presence: presence.to_model(),
            });
            parsed.observed.push((id, presence));
        }
        // Keys that unwrap but data whose HMAC does not match: not what Graph encrypted.
        Err(reason @ ("data_signature" | "key_unwrap")) => {
            rejected(reason);
            return Err(AdapterError::Unauthenticated("notification dataSignature"));
        }
        Err(reason) => {
            rejected(reason);
            // Encrypted to a certificate we no longer hold, or unreadable: the change still
            // happened, so it is read instead.
            if let Some(user) = user {
                parsed.signals.push(Signal::Reread(user));
            }
        }
    }
    Ok(())
}

fn decrypt(content: &EncryptedContent, checks: &Checks<'_>) -> Result<GraphPresence, &'static str> {
    let decryptor = checks.decryptor.ok_or("rich_without_certificate")?;
    let plaintext = decryptor.decrypt(content).map_err(|error| error.label())?;
    serde_json::from_slice(&plaintext).map_err(|_| "decrypted_content")
}

/// The same item redelivered by Graph carries the same encrypted bytes, so their digest is
/// the inbox key that makes a retried delivery count once.
fn event_id(data: &str) -> Option<EventId> {
    let digest = digest::digest(&digest::SHA256, data.as_bytes());
    format!("graph-presence:{}", hex::encode(&digest.as_ref()[..20]))
        .parse()
        .ok()
}
