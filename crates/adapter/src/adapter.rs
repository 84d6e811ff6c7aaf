//! The trait every platform implements.

use std::pin::Pin;

use callbridge_model::{Platform, PlatformCommand};
use chrono::{DateTime, Utc};

use crate::error::AdapterError;
use crate::inbound::{Inbound, InboundRequest};

/// A boxed future, so that [`PlatformAdapter`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One platform as the gateway sees it. Object-safe: the gateway holds `Arc<dyn PlatformAdapter>`
/// values and a new platform is added without touching the engine.
pub trait PlatformAdapter: Send + Sync {
    /// Which platform this adapter speaks for.
    fn platform(&self) -> Platform;

    /// Verifies an inbound HTTP request (signature, JWT, client state) before parsing anything,
    /// then translates it. The reply is what the platform must get back at once (an ack within
    /// its deadline); the events are the work, done after the reply by the host.
    fn handle_inbound(
        &self,
        request: InboundRequest,
    ) -> BoxFuture<'_, Result<Inbound, AdapterError>>;

    /// Carries out one command on the platform.
    fn execute(
        &self,
        command: PlatformCommand,
    ) -> BoxFuture<'_, Result<CommandOutcome, AdapterError>>;

    /// How the adapter's connection to its platform is doing.
    fn health(&self) -> AdapterHealth;
}

/// What executing a command produced, beyond success.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandOutcome {
    /// The platform's id for what was created (a Slack call id, a message ts, a SIP Call-ID),
    /// for the operator's records.
    pub platform_ref: Option<String>,
}

impl CommandOutcome {
    /// An outcome that names what the platform created.
    pub fn with_ref(platform_ref: impl Into<String>) -> Self {
        Self {
            platform_ref: Some(platform_ref.into()),
        }
    }
}

/// Overall state of an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthState {
    /// Working.
    Healthy,
    /// Working in part (a proxy down, rate limited, one installation needs reconnecting).
    Degraded,
    /// Not working.
    Down,
}

/// An adapter's report for readiness checks and the dashboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterHealth {
    /// The overall state.
    pub state: HealthState,
    /// One line per problem, free of secrets and personal data.
    pub problems: Vec<String>,
    /// When the platform last answered a request successfully.
    pub last_success: Option<DateTime<Utc>>,
}

impl AdapterHealth {
    /// A healthy report.
    pub const fn healthy(last_success: Option<DateTime<Utc>>) -> Self {
        Self {
            state: HealthState::Healthy,
            problems: Vec::new(),
            last_success,
        }
    }
}
