//! The store's durable inbox as adapters' [`Inbox`]: an event is claimed once, whatever the
//! platform retries, and stays pending until its work is done.

use callbridge_adapter::{AdapterError, BoxFuture, Inbox};
use callbridge_model::{EventId, Platform};
use callbridge_store::{EventInbox, InboxClaim, SqlStore};
use chrono::Utc;

/// An [`Inbox`] over the store.
#[derive(Clone)]
pub struct StoreInbox {
    store: SqlStore,
}

impl StoreInbox {
    /// An inbox over `store`.
    pub const fn new(store: SqlStore) -> Self {
        Self { store }
    }
}

impl Inbox for StoreInbox {
    fn claim(
        &self,
        platform: Platform,
        event_id: &EventId,
        payload: &str,
    ) -> BoxFuture<'_, Result<bool, AdapterError>> {
        let event_id = event_id.clone();
        let payload = payload.to_owned();
        Box::pin(async move {
            let claim = self
                .store
                .claim_event(platform, event_id.as_str(), &payload, Utc::now())
                .await
                .map_err(|e| AdapterError::Host(e.to_string()))?;
            Ok(matches!(claim, InboxClaim::New))
        })
    }
}
