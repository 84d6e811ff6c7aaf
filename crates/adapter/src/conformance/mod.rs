//! The adapter conformance suite: the properties every [`PlatformAdapter`] must have, checked
//! the same way for every platform against that platform's sandbox. A new adapter proves it
//! behaves like the others by implementing [`ConformanceTarget`] in its tests and invoking
//! [`conformance_suite!`](crate::conformance_suite).
//!
//! Compiled only with the `conformance` feature, which adapters enable in their
//! dev-dependencies, so the product carries no test code:
//!
//! ```toml
//! [dev-dependencies]
//! callbridge-adapter = { workspace = true, features = ["conformance"] }
//! tokio.workspace = true   # the suite's tests are `#[tokio::test]`s
//! ```
//!
//! Then, in a test file of the adapter:
//!
//! ```ignore
//! use callbridge_adapter::conformance::{CommandCase, ConformanceTarget, Delivery, Forgery};
//!
//! struct SlackConformance { /* the running sandbox, the adapter */ }
//!
//! impl SlackConformance {
//!     async fn start() -> Self { /* start the sandbox, build the adapter against it */ }
//! }
//!
//! impl ConformanceTarget for SlackConformance { /* … */ }
//!
//! // One `#[tokio::test]` per property; `SlackConformance::start()` runs once per test, so
//! // every test gets a fresh sandbox.
//! callbridge_adapter::conformance_suite!(SlackConformance::start());
//! ```
//!
//! The properties (one test each, named `conformance_suite::…`):
//!
//! | test | property |
//! |---|---|
//! | `signed_request_is_accepted` | a correctly signed delivery gets a 2xx reply and exactly the declared events |
//! | `unsigned_request_is_rejected`, `request_signed_over_another_body_is_rejected`, `stale_request_is_rejected`, `request_from_the_future_is_rejected` | [`AdapterError::Unauthenticated`](crate::AdapterError::Unauthenticated), no events, and the event id is not burnt: the genuine delivery is accepted afterwards |
//! | `replayed_event_is_deduplicated` | through [`accept`](crate::accept) and [`MemoryInbox`](crate::MemoryInbox), a second delivery of an event yields no events and a 2xx reply; another event still does |
//! | `unknown_event_type_is_acked_and_ignored` | 2xx, no events |
//! | `commands_round_trip` | every [`CommandCase`] executes and its check against the sandbox passes |
//! | `rate_limit_is_honoured` | under a 429 with `Retry-After` on the command's route, the command succeeds once the fault lapses, no sooner than the wait |
//! | `server_error_is_retried_when_idempotent` | a 503 on an idempotent command's route is retried and the command succeeds |
//! | `server_error_is_not_retried_when_not_idempotent` | a 503 on a non-idempotent command's route fails the command retryably after exactly one request |
//!
//! Faults are injected through the sandbox's `POST /_sandbox/faults`, and requests that reached
//! the faulted route are counted through the `remaining` uses of the rule (`GET
//! /_sandbox/faults`), so the target needs no counter of its own. The fault tests take real
//! time (a one-second `Retry-After`).
//!
//! [`PlatformAdapter`]: crate::PlatformAdapter

mod checks;
mod sandbox;
mod suite;
mod target;

pub use checks::*;
pub use sandbox::SandboxControl;
pub use target::{CommandCase, CommandCheck, ConformanceTarget, Delivery, Forgery};
