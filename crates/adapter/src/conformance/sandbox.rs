//! The sandbox's scenario control routes as the suite uses them: inject a fault on a route and
//! count how many requests it hit. Spoken over HTTP, so the adapter crate needs no dependency on
//! the sandbox crate.

use serde_json::{Value, json};

/// A client for a sandbox's `/_sandbox/faults` routes. Failures panic: it serves tests.
#[derive(Clone, Debug)]
pub struct SandboxControl {
    http: reqwest::Client,
    faults_url: String,
}

impl SandboxControl {
    /// Controls the sandbox at `base_url` (`http://127.0.0.1:40123`).
    pub fn new(base_url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            faults_url: format!("{}/_sandbox/faults", base_url.trim_end_matches('/')),
        }
    }

    /// Answers requests below `path_prefix` with 429 and `Retry-After: retry_after_secs`, for
    /// the next `remaining` of them.
    pub async fn rate_limit(&self, path_prefix: &str, retry_after_secs: u64, remaining: u32) {
        self.add(json!({
            "path_prefix": path_prefix,
            "kind": "rate_limit",
            "retry_after_secs": retry_after_secs,
            "remaining": remaining,
        }))
        .await;
    }

    /// Answers requests below `path_prefix` with `status`, for the next `remaining` of them.
    pub async fn fail_with(&self, path_prefix: &str, status: u16, remaining: u32) {
        self.add(json!({
            "path_prefix": path_prefix,
            "kind": "status",
            "status": status,
            "remaining": remaining,
        }))
        .await;
    }

    /// How many uses the rule on `path_prefix` has left; `None` once it has lapsed (every use
    /// taken) or if there never was one.
    pub async fn remaining(&self, path_prefix: &str) -> Option<u64> {
        let response = self
            .http
            .get(&self.faults_url)
            .send()
            .await
            .unwrap_or_else(|error| panic!("GET {}: {error}", self.faults_url));
        assert!(
            response.status().is_success(),
            "GET {}: {}",
            self.faults_url,
            response.status()
        );
        let rules: Vec<Value> = response
            .json()
            .await
            .unwrap_or_else(|error| panic!("GET {}: not a rule list: {error}", self.faults_url));
        rules
            .iter()
            .find(|rule| rule["path_prefix"] == path_prefix)
            .map(|rule| rule["remaining"].as_u64().unwrap_or(u64::MAX))
    }

    /// Removes every fault rule.
    pub async fn clear(&self) {
        let response = self
            .http
            .delete(&self.faults_url)
            .send()
            .await
            .unwrap_or_else(|error| panic!("DELETE {}: {error}", self.faults_url));
        assert!(
            response.status().is_success(),
            "DELETE {}: {}",
            self.faults_url,
            response.status()
        );
    }

    async fn add(&self, rule: Value) {
        let response = self
            .http
            .post(&self.faults_url)
            .json(&rule)
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {}: {error}", self.faults_url));
        assert!(
            response.status().is_success(),
            "POST {} {rule}: {}",
            self.faults_url,
            response.status()
        );
    }
}
