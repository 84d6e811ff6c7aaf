//! The platforms this gateway serves: their adapters, mounted under `/{platform}/…`, and the
//! host services each adapter is given over the store ([`StoreVault`] for sealed tokens,
//! [`StoreInbox`] for exactly-once events), plus the [`dispatch`] loop that hands accepted
//! events to whoever handles them and marks them done.

pub mod dispatch;
mod handler;
mod inbox;
mod vault;

use std::collections::BTreeMap;
use std::sync::Arc;

use callbridge_adapter::PlatformAdapter;
use callbridge_slack::SlackAdapter;
use callbridge_teams::TeamsAdapter;

pub use dispatch::{EventHandler, EventSink};
pub use handler::{GatewayHandler, NO_ENGINE_REPLY};
pub use inbox::StoreInbox;
pub use vault::StoreVault;

/// The adapters in service, by mount name (`slack`, `teams`).
#[derive(Clone, Default)]
pub struct Platforms {
    adapters: BTreeMap<&'static str, Arc<dyn PlatformAdapter>>,
    /// The Teams adapter as itself, for operator actions only it has (consent and sign-in
    /// links).
    teams: Option<Arc<TeamsAdapter>>,
    /// The Slack adapter as itself, for its directory reads.
    slack: Option<Arc<SlackAdapter>>,
}

impl Platforms {
    /// Mounts `adapter` at `/{name}/…`.
    #[must_use]
    pub fn with(mut self, name: &'static str, adapter: Arc<dyn PlatformAdapter>) -> Self {
        self.adapters.insert(name, adapter);
        self
    }

    /// Mounts the Teams adapter at `/teams/…`.
    #[must_use]
    pub fn with_teams(mut self, adapter: Arc<TeamsAdapter>) -> Self {
        self.teams = Some(adapter.clone());
        self.with("teams", adapter)
    }

    /// Mounts the Slack adapter at `/slack/…`.
    #[must_use]
    pub fn with_slack(mut self, adapter: Arc<SlackAdapter>) -> Self {
        self.slack = Some(adapter.clone());
        self.with("slack", adapter)
    }

    /// The Slack adapter, when Slack is enabled.
    pub fn slack(&self) -> Option<&Arc<SlackAdapter>> {
        self.slack.as_ref()
    }

    /// The Teams adapter, when Teams is enabled.
    pub fn teams(&self) -> Option<&Arc<TeamsAdapter>> {
        self.teams.as_ref()
    }

    /// The adapter mounted at `name`.
    pub fn adapter(&self, name: &str) -> Option<&Arc<dyn PlatformAdapter>> {
        self.adapters.get(name)
    }

    /// Every mounted adapter, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Arc<dyn PlatformAdapter>)> {
        self.adapters.iter().map(|(name, adapter)| (*name, adapter))
    }

    /// The adapter for a platform.
    pub fn for_platform(
        &self,
        platform: callbridge_model::Platform,
    ) -> Option<&Arc<dyn PlatformAdapter>> {
        self.adapters.values().find(|a| a.platform() == platform)
    }
}
