//! Random input sequences over a few calls never panic, and every call that was persisted
//! ends with exactly one CDR once everything is wound down.

mod calls_support;

use calls_support::script;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

#[test]
fn every_persisted_call_gets_exactly_one_cdr() {
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    // A fixed seed: the same 256 cases every run.
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]);
    let mut runner = TestRunner::new_with_rng(config, rng);
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..600), |bytes| {
            script::run(&bytes).map(|_| ()).map_err(TestCaseError::fail)
        })
        .expect("invariants hold");
}

#[test]
fn the_script_reaches_connected_calls() {
    // Guards the property test against an alphabet that never gets anywhere: request Alice ->
    // Bob (call 1), offer ready, join and answer the browser, answer the SIP leg.
    let bytes = [0, 0, 8, 6, 0, 1, 4, 0, 0, 7, 0, 0, 3, 0, 1];
    assert_eq!(script::run(&bytes), Ok(1));
}
