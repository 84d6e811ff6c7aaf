//! The common vocabulary of callbridge.
//!
//! Owns the data every other crate speaks: newtype ids that parse rather than validate, calls,
//! legs, presence, call detail records, and the `PlatformEvent` / `PlatformCommand` pair that
//! adapters translate to and from. Data only: serde and schemars derives, no I/O, no async.
//!
//! May depend on: serde, schemars, thiserror, uuid, chrono. Nothing else in the workspace.
