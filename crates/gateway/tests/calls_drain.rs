//! Draining with a call up: the gateway stops taking calls, the call in progress goes on until
//! the drain deadline, then ends cleanly on both sides with `drain_forced`.

use callbridge_model::TerminationCause;
use callbridge_store::CallStore;
use callbridge_testkit::{CallWorld, connected_call, demo_slack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_progress_ends_with_drain_forced_when_the_gateway_drains() {
    let mut world = CallWorld::start().await;
    let (_browser, sip_call) = connected_call(&world, demo_slack::BOB, "alice@contoso.test").await;
    world.drain().await;
    assert_eq!(
        world
            .microsoft
            .state()
            .call(&sip_call)
            .map(|c| c.state)
            .as_deref(),
        Some("ended"),
        "the Teams leg was hung up before the gateway stopped"
    );
    let cdrs = world
        .store
        .reopen()
        .await
        .recent_cdrs(10)
        .await
        .expect("CDRs");
    assert_eq!(cdrs.len(), 1, "{cdrs:?}");
    assert_eq!(cdrs[0].cause, TerminationCause::DrainForced);
    assert!(
        world
            .slack
            .state()
            .call_cards()
            .iter()
            .all(|card| card.state == "ended"),
        "the card is ended"
    );
}
