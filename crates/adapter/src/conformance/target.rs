//! What an adapter's test supplies to the conformance suite.

use std::fmt;
use std::sync::Arc;

use callbridge_model::{PlatformCommand, PlatformEvent};

use crate::adapter::{BoxFuture, CommandOutcome, PlatformAdapter};
use crate::inbound::InboundRequest;

/// An adapter under test together with the sandbox it talks to. Object-safe; its async methods
/// return boxed futures. Methods may panic with a clear message when the sandbox cannot provide
/// what is asked: they run inside tests.
pub trait ConformanceTarget: Send + Sync {
    /// The adapter under test, configured against the sandbox (base URLs, credentials, signing
    /// secret, a [`TokenVault`](crate::TokenVault) holding the sandbox's tokens).
    fn adapter(&self) -> Arc<dyn PlatformAdapter>;

    /// The sandbox's base URL, without a trailing slash (`http://127.0.0.1:40123`): where
    /// `/_sandbox/faults` lives. A [`CommandCase`] can name another with
    /// [`CommandCase::on_sandbox`].
    fn sandbox_url(&self) -> String;

    /// A correctly signed request delivering one event whose platform id is made from
    /// `event_id`, exactly as the platform sends it now (signature, timestamp or JWT fresh
    /// relative to the request's `received_at`), with the events the adapter must make of it.
    /// The same `event_id` must yield the same [`EventId`](callbridge_model::EventId); different
    /// ones different ids. Called again with the same `event_id`, it is the platform's retry.
    fn signed_event<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Delivery>;

    /// The delivery of [`signed_event`](Self::signed_event) for the same `event_id`, forged as
    /// `forgery` says.
    fn forged_event<'a>(
        &'a self,
        event_id: &'a str,
        forgery: Forgery,
    ) -> BoxFuture<'a, InboundRequest>;

    /// A correctly signed request carrying an event type the adapter does not handle (a type
    /// the platform may add tomorrow): it must be acknowledged and ignored.
    fn unknown_event(&self) -> BoxFuture<'_, InboundRequest>;

    /// The commands to try, with a check of each against the sandbox. At least one must be
    /// idempotent and one not, for the fault tests. Called once per test, on a fresh target,
    /// so it may set up the sandbox state its cases need (a posted call card to update).
    fn command_cases(&self) -> BoxFuture<'_, Vec<CommandCase>>;
}

// The trait stays object-safe: a host may hold targets as `&dyn ConformanceTarget`.
const _: Option<&dyn ConformanceTarget> = None;

/// A request and what the adapter must make of it.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The request as the platform sends it.
    pub request: InboundRequest,
    /// The events the adapter must produce, in order; at least one, each with an event id.
    pub events: Vec<PlatformEvent>,
}

/// How a delivery is forged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Forgery {
    /// The signature (or bearer token, or client state) removed.
    Unsigned,
    /// A signature that is valid, but for another body than the one sent.
    SignedOverAnotherBody,
    /// Signed 301 seconds before `received_at` (one second outside a five-minute window); for
    /// a JWT, a token that expired 301 seconds before `received_at`.
    Stale,
    /// Signed 301 seconds after `received_at`; for a JWT, one not valid until 301 seconds after
    /// `received_at`.
    FromTheFuture,
}

/// A check that a command took effect: given its outcome, asks the sandbox; `Err` says what
/// was wrong.
pub type CommandCheck =
    Box<dyn FnOnce(CommandOutcome) -> BoxFuture<'static, Result<(), String>> + Send>;

/// One command to execute, and how to tell that it worked.
pub struct CommandCase {
    /// A name for failure messages (`set presence`, `post call card`).
    pub name: String,
    /// The command.
    pub command: PlatformCommand,
    /// Whether the adapter may resend it after a 5xx: the fault tests expect a retry exactly
    /// when this is true.
    pub idempotent: bool,
    /// The path prefix of the platform route the command calls (`/api/users.profile.set`),
    /// where the fault tests inject faults. Only this command's requests may match it.
    pub path_prefix: String,
    /// The sandbox serving that route, when not [`ConformanceTarget::sandbox_url`].
    pub sandbox_url: Option<String>,
    /// The check against the sandbox.
    pub check: CommandCheck,
}

impl CommandCase {
    /// A case whose requests go to `path_prefix` on the target's sandbox.
    pub fn new<F, Fut>(
        name: impl Into<String>,
        command: PlatformCommand,
        idempotent: bool,
        path_prefix: impl Into<String>,
        check: F,
    ) -> Self
    where
        F: FnOnce(CommandOutcome) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name: name.into(),
            command,
            idempotent,
            path_prefix: path_prefix.into(),
            sandbox_url: None,
            check: Box::new(move |outcome| Box::pin(check(outcome))),
        }
    }

    /// The route is served by the sandbox at `url` rather than the target's.
    #[must_use]
    pub fn on_sandbox(mut self, url: impl Into<String>) -> Self {
        self.sandbox_url = Some(url.into());
        self
    }
}

impl fmt::Debug for CommandCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandCase")
            .field("name", &self.name)
            .field("idempotent", &self.idempotent)
            .field("path_prefix", &self.path_prefix)
            .finish_non_exhaustive()
    }
}
