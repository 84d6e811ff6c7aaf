//! Graph requests through the shared client layer: the bearer token, the per-tenant presence
//! budget, JSON bodies, and Graph's error JSON turned into [`AdapterError`]s by code, never by
//! message (reference `teams-graph.md` §6).

use bytes::Bytes;
use callbridge_adapter::AdapterError;
use callbridge_adapter::client::{ApiCall, ApiClient};
use http::StatusCode;
use reqwest::Method;
use serde::Deserialize;
use url::Url;

/// Graph's documented presence limit is 1500 requests per 30 s per app and tenant (§3.2, §6);
/// callbridge keeps to 2/3 of it so a second writer (a person's own script) has room.
pub(crate) const PRESENCE_PER_MINUTE: u32 = 2000;

/// The budget every presence call draws on (per tenant).
pub(crate) const PRESENCE_BUDGET: &str = "graph.presence";

/// A Graph answer that was neither 429 nor 5xx (those are retried or refused by the client
/// layer).
#[derive(Debug)]
pub(crate) struct GraphReply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl GraphReply {
    /// The body as `T` when the status is a success, else the error the status and Graph's
    /// error code call for.
    pub(crate) fn json<T: for<'de> Deserialize<'de>>(
        self,
        method: &str,
    ) -> Result<T, AdapterError> {
        self.success(method)?;
        serde_json::from_slice(&self.body).map_err(|error| AdapterError::PlatformMisbehaved {
            method: method.to_owned(),
            detail: format!("unexpected body: {error}"),
        })
    }

    /// `Ok` for a 2xx, else the error.
    pub(crate) fn success(&self, method: &str) -> Result<(), AdapterError> {
        if self.status.is_success() {
            Ok(())
        } else {
            Err(self.error(method))
        }
    }

    /// Graph's error code (`itemNotFound`, `ExtensionError`), if the body carries one.
    pub(crate) fn code(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Envelope {
            error: Inner,
        }
        #[derive(Deserialize)]
        struct Inner {
            code: String,
        }
        serde_json::from_slice::<Envelope>(&self.body)
            .ok()
            .map(|envelope| envelope.error.code)
    }

    /// The error for a non-success status.
    pub(crate) fn error(&self, method: &str) -> AdapterError {
        let code = self
            .code()
            .unwrap_or_else(|| self.status.as_str().to_owned());
        AdapterError::PlatformRejected {
            method: method.to_owned(),
            error: format!("{} {code}", self.status.as_u16()),
        }
    }
}

/// Sends Graph calls for one tenant.
#[derive(Clone, Debug)]
pub(crate) struct GraphHttp {
    client: ApiClient,
    tenant: String,
}

impl GraphHttp {
    pub(crate) const fn new(client: ApiClient, tenant: String) -> Self {
        Self { client, tenant }
    }

    /// One Graph request. `method` names the operation for budgets and metrics.
    pub(crate) async fn send(
        &self,
        method: &'static str,
        verb: Method,
        url: Url,
        token: &str,
        body: Option<&serde_json::Value>,
        idempotent: bool,
    ) -> Result<GraphReply, AdapterError> {
        let call = ApiCall {
            method,
            budget_key: &self.tenant,
            idempotent,
        };
        let response = self
            .client
            .send(call, |http| {
                let request = http
                    .request(verb.clone(), url.clone())
                    .bearer_auth(token)
                    .header(http::header::ACCEPT, "application/json");
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|_| AdapterError::PlatformUnavailable {
                method: method.to_owned(),
                reason: "body not received".to_owned(),
                retry_after: None,
            })?;
        Ok(GraphReply { status, body })
    }
}
