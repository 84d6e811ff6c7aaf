//! Faithful local stand-ins for Slack, Entra ID / Graph / Bot Connector and the Teams Direct
//! Routing SIP proxy, with virtual users, used by `callbridge demo` and the end-to-end tests.
//!
//! Every sandbox shares the scenario control surface of [`control`]: a virtual clock that tests
//! can freeze and advance, and fault injection (latency, 5xx, 429 storms), exposed under the
//! `/_sandbox/` path prefix next to the platform's own routes.
//!
//! May depend on: `callbridge-model` and server/crypto/media libraries. Never on the gateway,
//! the store, the engine or an adapter: the sandboxes stand in for the outside world.

pub mod control;
pub mod microsoft;
pub mod slack;
