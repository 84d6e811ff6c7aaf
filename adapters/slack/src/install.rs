//! "Add to Slack" (slack-api.md §5.1, §5.2): `GET /install` redirects to Slack's authorize page
//! with a fresh `state` bound to a `__Host-` cookie; `GET /oauth/callback` checks the state
//! (cookie mismatch → 400; unknown, reused or older than 10 minutes → 401), exchanges the code
//! once, stores the tokens through the vault and answers a small page.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use callbridge_adapter::{AdapterError, Inbound, InboundReply, InboundRequest};
use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode, header};
use rand::Rng;

use crate::adapter::Shared;
use crate::form::query;

/// The cookie carrying the state; `__Host-` pins it to this host, path `/`, HTTPS only.
pub const STATE_COOKIE: &str = "__Host-callbridge-slack-state";
/// How long an install may take from redirect to callback.
pub const STATE_LIFETIME: chrono::Duration = chrono::Duration::minutes(10);
/// States kept at most (issued and recently used).
const CAPACITY: usize = 10_000;

#[derive(Debug)]
struct Issued {
    at: DateTime<Utc>,
    used: bool,
}

/// States issued and not yet forgotten.
#[derive(Debug, Default)]
pub(crate) struct InstallStates {
    inner: Mutex<(HashMap<String, Issued>, VecDeque<String>)>,
}

impl InstallStates {
    fn issue(&self, at: DateTime<Utc>) -> String {
        let state = hex::encode(rand::rng().random::<[u8; 32]>());
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *guard;
        // Entries outlive their 10 minutes by as long again, so a late replay is told "expired"
        // or "used" rather than "unknown"; past that they go, and the cache stays bounded.
        while order.len() >= CAPACITY
            || order
                .front()
                .and_then(|s| map.get(s))
                .is_some_and(|i| at - i.at > STATE_LIFETIME * 2)
        {
            let Some(old) = order.pop_front() else { break };
            map.remove(&old);
        }
        map.insert(state.clone(), Issued { at, used: false });
        order.push_back(state.clone());
        state
    }

    /// Spends a state, or says why it cannot be used.
    fn spend(&self, state: &str, now: DateTime<Utc>) -> Result<(), AdapterError> {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let issued = guard
            .0
            .get_mut(state)
            .ok_or(AdapterError::Unauthenticated("install state unknown"))?;
        if issued.used {
            return Err(AdapterError::Unauthenticated("install state already used"));
        }
        issued.used = true;
        if now - issued.at > STATE_LIFETIME || now < issued.at - chrono::Duration::minutes(1) {
            return Err(AdapterError::Unauthenticated("install state expired"));
        }
        Ok(())
    }
}

fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

fn html(status: StatusCode, title: &str, text: &str) -> InboundReply {
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    InboundReply::with_body(
        status,
        "text/html; charset=utf-8",
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
             <body><h1>{t}</h1><p>{x}</p></body></html>",
            t = escape(title),
            x = escape(text)
        ),
    )
}

/// `GET /install[?mirror=1][&team=T…]`.
pub(crate) fn install(shared: &Shared, request: &InboundRequest) -> Result<Inbound, AdapterError> {
    let params = query(request.query.as_deref());
    let state = shared.install_states.issue(request.received_at);
    let config = &shared.config;
    let mut target = config.authorize_url.clone();
    {
        let mut pairs = target.query_pairs_mut();
        pairs
            .append_pair("client_id", &config.client_id)
            .append_pair("scope", &config.bot_scopes.join(","))
            .append_pair("redirect_uri", config.redirect_uri.as_str())
            .append_pair("state", &state);
        // User scopes only for a person opting in to mirroring (§5.5).
        if params
            .get("mirror")
            .is_some_and(|v| v == "1" || v == "true")
        {
            pairs.append_pair("user_scope", &config.user_scopes.join(","));
        }
        if let Some(team) = params.get("team") {
            let team: callbridge_model::SlackTeamId = team
                .parse()
                .map_err(|_| AdapterError::Malformed("team is not a Slack team id".to_owned()))?;
            pairs.append_pair("team", team.as_str());
        }
    }
    let mut reply = InboundReply::empty(StatusCode::FOUND);
    let location = HeaderValue::from_str(target.as_str())
        .map_err(|_| AdapterError::Bug("authorize URL is not a header value".to_owned()))?;
    reply.headers.insert(header::LOCATION, location);
    let cookie = format!(
        "{STATE_COOKIE}={state}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        STATE_LIFETIME.num_seconds()
    );
    reply.headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie)
            .map_err(|_| AdapterError::Bug("cookie is not a header value".to_owned()))?,
    );
    reply
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(Inbound::reply_only(reply))
}

/// `GET /oauth/callback?code&state` (or `?error&state` when the person cancelled).
pub(crate) async fn callback(
    shared: &Shared,
    request: &InboundRequest,
) -> Result<Inbound, AdapterError> {
    let params = query(request.query.as_deref());
    let state = params
        .get("state")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AdapterError::Malformed("callback without state".to_owned()))?;
    let bound = cookie(&request.headers, STATE_COOKIE).unwrap_or_default();
    let same = bound.len() == state.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(bound.as_bytes(), state.as_bytes())
            .is_ok();
    if !same {
        metrics::counter!("callbridge_slack_install_refused_total", "reason" => "state_mismatch")
            .increment(1);
        return Err(AdapterError::Malformed(
            "install state does not match this browser's cookie".to_owned(),
        ));
    }
    if let Err(error) = shared.install_states.spend(state, request.received_at) {
        metrics::counter!("callbridge_slack_install_refused_total", "reason" => "state_invalid")
            .increment(1);
        return Err(error);
    }
    let mut reply = if params.contains_key("error") {
        html(
            StatusCode::OK,
            "Installation cancelled",
            "callbridge was not added to Slack. You can close this page.",
        )
    } else {
        let code = params
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| AdapterError::Malformed("callback without code".to_owned()))?;
        let answer = match shared.tokens.oauth().exchange_code(code).await {
            Ok(answer) => answer,
            Err(AdapterError::PlatformRejected { error, .. }) => {
                tracing::info!(%error, "slack refused the install code");
                metrics::counter!("callbridge_slack_install_refused_total", "reason" => "code_refused").increment(1);
                return Err(AdapterError::Unauthenticated(
                    "install code refused by Slack",
                ));
            }
            Err(error) => return Err(error),
        };
        if answer
            .app_id
            .as_deref()
            .is_some_and(|id| id != shared.config.app_id)
        {
            return Err(AdapterError::PlatformMisbehaved {
                method: "oauth.v2.access".to_owned(),
                detail: "tokens issued for another app".to_owned(),
            });
        }
        let installed = shared.tokens.store_install(&answer).await?;
        shared.reconnected(&installed.installation);
        metrics::counter!("callbridge_slack_installs_total").increment(1);
        tracing::info!(
            mirroring = installed.user.is_some(),
            "slack installation stored"
        );
        let place = installed.team_name.unwrap_or(installed.installation);
        let text = if installed.user.is_some() {
            format!(
                "callbridge is installed in {place}, and your status will now follow Teams. You can close this page."
            )
        } else {
            format!(
                "callbridge is installed in {place}. Type /call help in Slack to start. You can close this page."
            )
        };
        html(StatusCode::OK, "callbridge is ready", &text)
    };
    reply.headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-callbridge-slack-state=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
        ),
    );
    Ok(Inbound::reply_only(reply))
}
