//! The scenario control surface shared by every sandbox.
//!
//! Tests and the demo drive a sandbox through routes under [`CONTROL_PREFIX`]:
//!
//! | route | effect |
//! |---|---|
//! | `GET  /_sandbox/clock` | the sandbox's current time (`{"unix": …, "frozen": …}`) |
//! | `POST /_sandbox/clock` | `{"advance_secs": n}`, `{"freeze": true}` or `{"freeze": false}` |
//! | `GET  /_sandbox/faults` | the fault rules in force |
//! | `POST /_sandbox/faults` | add a [`FaultRule`] |
//! | `DELETE /_sandbox/faults` | clear every rule |
//!
//! Each platform sandbox adds its own `act` / `read` routes under the same prefix.

mod clock;
mod faults;
mod routes;

pub use clock::SandboxClock;
pub use faults::{FaultAction, FaultRenderer, FaultRule, Faults, apply_faults};
pub use routes::control_router;

/// The path prefix of every scenario control route; platform routes never start with it.
pub const CONTROL_PREFIX: &str = "/_sandbox";
