//! Drives the call engine from raw bytes: the bytes decode into a small alphabet of inputs
//! over a few calls; after winding everything down, every persisted call must have exactly one
//! CDR. The engine must never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The same script the engine's property test runs.
#[path = "../../../crates/engine/tests/calls_support/script.rs"]
mod script;

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = script::run(data) {
        panic!("invariant broken: {broken}");
    }
});
