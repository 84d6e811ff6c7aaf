//! `kill -9` of the gateway mid-call, then a restart on the same database: the call's record
//! is there, closed as `crash_recovered` with one CDR, and the Teams leg the SIP proxy still
//! held is hung up.

use std::time::Duration;

use callbridge_model::{CallState, TerminationCause};
use callbridge_store::CallStore;
use callbridge_testkit::{CallWorld, connected_call, demo_slack, phone_reaches};

const ALICE: &str = "alice@contoso.test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_recovers_its_calls_at_restart() {
    let mut world = CallWorld::start_process(env!("CARGO_BIN_EXE_callbridge").as_ref(), &[]).await;
    let (_browser, sip_call) = connected_call(&world, demo_slack::BOB, ALICE).await;

    world.kill_gateway();
    let store = world.store.reopen().await;
    let live = store.live_calls().await.expect("live calls");
    assert_eq!(live.len(), 1, "the call record survived the crash");
    assert_eq!(live[0].state, CallState::Connected);
    assert_eq!(
        world
            .microsoft
            .state()
            .call(&sip_call)
            .map(|c| c.state)
            .as_deref(),
        Some("answered"),
        "the proxy still holds the Teams leg"
    );

    world.restart_gateway().await;
    // The orphaned Teams leg is hung up from the dialog the call record kept.
    phone_reaches(&world, &sip_call, "ended", Duration::from_secs(15)).await;
    let cdrs = store.recent_cdrs(10).await.expect("CDRs");
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(cdrs[0].cause, TerminationCause::CrashRecovered);
    assert!(store.live_calls().await.expect("live calls").is_empty());
    world.stop().await;
}
