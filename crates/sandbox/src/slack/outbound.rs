//! Signed HTTP requests from the sandbox to the app under test (slack-api.md §2, §9.3).

use std::time::Instant;

use serde::Serialize;

use super::signing::sign_v0;
use super::state::SlackState;

/// Test knobs for the signatures Slack puts on its requests (§14 item 3).
#[derive(Clone, Copy, Debug, Default, Serialize, serde::Deserialize)]
pub struct SigningKnobs {
    /// Seconds added to the timestamp Slack signs (a skewed clock).
    #[serde(default)]
    pub skew_secs: i64,
    /// Sign with a wrong secret, so that a correct verifier refuses every request.
    #[serde(default)]
    pub corrupt: bool,
}

/// What came of one request to the app.
#[derive(Clone, Debug)]
pub(crate) struct Answer {
    /// HTTP status, when the app answered in time.
    pub(crate) status: Option<u16>,
    pub(crate) content_type: String,
    pub(crate) body: Vec<u8>,
    /// `x-slack-no-retry: 1` was sent back.
    pub(crate) no_retry: bool,
    /// The failure reason in `X-Slack-Retry-Reason` vocabulary, `None` on a 2xx answer.
    pub(crate) failure: Option<&'static str>,
    pub(crate) elapsed_ms: u64,
    /// The timestamp that was signed.
    pub(crate) signed_ts: i64,
}

impl SlackState {
    /// POSTs `body` to `url`, signed with the app's signing secret at the sandbox's time,
    /// waiting at most the app timeout (3 s unless configured otherwise).
    pub(crate) async fn signed_post(
        &self,
        url: url::Url,
        content_type: &str,
        body: Vec<u8>,
        extra_headers: &[(&'static str, String)],
    ) -> Answer {
        let (secret, knobs) = {
            let world = self.world();
            (world.app.signing_secret.clone(), world.signing)
        };
        let ts = self.now() + knobs.skew_secs;
        let secret = if knobs.corrupt {
            format!("{secret}-wrong")
        } else {
            secret
        };
        let signature = sign_v0(&secret, ts, &body);
        let mut request = self
            .inner
            .http
            .post(url)
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", signature)
            .header("user-agent", "Slackbot 1.0 (+https://api.slack.com/robots)");
        for (name, value) in extra_headers {
            request = request.header(*name, value);
        }
        let started = Instant::now();
        let result = request.body(body).send().await;
        let mut answer = Answer {
            status: None,
            content_type: String::new(),
            body: Vec::new(),
            no_retry: false,
            failure: None,
            elapsed_ms: 0,
            signed_ts: ts,
        };
        match result {
            Ok(response) => {
                let status = response.status();
                answer.status = Some(status.as_u16());
                answer.no_retry = response
                    .headers()
                    .get("x-slack-no-retry")
                    .is_some_and(|v| v.as_bytes() == b"1");
                answer.content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                match response.bytes().await {
                    Ok(bytes) => answer.body = bytes.to_vec(),
                    Err(e) if e.is_timeout() => answer.failure = Some("http_timeout"),
                    Err(_) => answer.failure = Some("unknown_error"),
                }
                if answer.failure.is_none() && !status.is_success() {
                    answer.failure = Some(if status.is_redirection() {
                        "too_many_redirects"
                    } else {
                        "http_error"
                    });
                }
            }
            Err(e) => {
                answer.failure = Some(if e.is_timeout() {
                    "http_timeout"
                } else if e.is_redirect() {
                    "too_many_redirects"
                } else if e.is_connect() {
                    "connection_failed"
                } else {
                    "unknown_error"
                });
            }
        }
        answer.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        answer
    }
}
