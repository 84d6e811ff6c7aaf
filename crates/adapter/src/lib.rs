//! The `PlatformAdapter` trait every platform implements, and the shared conformance suite that
//! runs against each adapter and its sandbox.
//!
//! May depend on: `callbridge-model`. Never on the gateway, the store, the engine or an adapter.
