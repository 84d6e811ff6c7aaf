//! "Reconnect required": once Entra refuses a grant (`invalid_grant`, revoked consent), the
//! tenant's installation needs a person. Calls and mirroring for it stop, the operator sees a
//! metric and one log line, and the flag clears when the refused owner signs in or consents
//! again.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use callbridge_model::{EventId, Platform, PlatformEvent};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

/// Which credentials of the installation Entra refused.
#[derive(Debug)]
pub(crate) struct Reconnect {
    refused: Mutex<BTreeSet<String>>,
    events: mpsc::Sender<PlatformEvent>,
}

impl Reconnect {
    pub(crate) fn new(events: mpsc::Sender<PlatformEvent>) -> Self {
        Self {
            refused: Mutex::new(BTreeSet::new()),
            events,
        }
    }

    /// Records that Entra refused `owner` (`app` or `subscriber:<name>`). The transition into
    /// "reconnect required" is logged once and told to the host as `InstallationRevoked`.
    pub(crate) fn refuse(&self, owner: &str, tenant: &str, now: DateTime<Utc>) {
        let first = {
            let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
            let first = refused.is_empty();
            refused.insert(owner.to_owned());
            first
        };
        gauge(1.0);
        if !first {
            return;
        }
        tracing::warn!(
            platform = "teams",
            %tenant,
            owner,
            "Entra refused the installation's grant: reconnect required; calls and mirroring stop"
        );
        // One id per transition, so a later revocation is not taken for a duplicate.
        let id = format!("teams-reconnect:{tenant}:{}", now.timestamp_millis());
        if let Ok(event_id) = id.parse::<EventId>() {
            let event = PlatformEvent::InstallationRevoked {
                event_id,
                platform: Platform::Teams,
                external_id: tenant.to_owned(),
            };
            if self.events.try_send(event).is_err() {
                metrics::counter!("callbridge_teams_events_dropped_total").increment(1);
            }
        }
    }

    /// Records that `owner` has working credentials again.
    pub(crate) fn restore(&self, owner: &str) {
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if refused.remove(owner) && refused.is_empty() {
            gauge(0.0);
            tracing::info!(platform = "teams", owner, "installation reconnected");
        }
    }

    /// Whether the installation needs a person.
    pub(crate) fn required(&self) -> bool {
        !self
            .refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// The refused owners, for health reports.
    pub(crate) fn owners(&self) -> Vec<String> {
        self.refused
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

fn gauge(value: f64) {
    metrics::gauge!("callbridge_installation_reconnect_required", "platform" => "teams").set(value);
}
