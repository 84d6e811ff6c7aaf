//! Sans-IO call orchestration and presence mirroring policy.
//!
//! Owns the decisions: which call leg to place, when a call rings out, what a presence change
//! on one platform becomes on the other. It never reads the clock, opens a socket or spawns a
//! task; time is an input.
//!
//! May depend on: `callbridge-model` only (no async runtime, HTTP, database or adapter).
