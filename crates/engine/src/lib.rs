//! Sans-IO call orchestration and presence mirroring policy.
//!
//! Owns the decisions: which call leg to place, when a call rings out, what a presence change
//! on one platform becomes on the other. It never reads the clock, draws randomness, opens a
//! socket or spawns a task: time, ids and signed URLs are inputs, effects are outputs.
//!
//! - [`call`]: one state machine per call, behind [`CallEngine`]
//!   (`handle_input(input, now)`, then `poll_output()` until it returns the next deadline).
//! - [`presence`]: the mirroring policy between the two platforms, behind [`PresenceMirror`].
//!
//! May depend on: `callbridge-model` only (no async runtime, HTTP, database or adapter).

pub mod call;
pub mod error;
pub mod presence;

pub use call::CallEngine;
pub use error::EngineError;
pub use presence::PresenceMirror;
