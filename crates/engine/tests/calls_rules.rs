//! The rules around calls: refusals (draining, glare, double `/call`, busy, Do Not Disturb),
//! drain, hold and re-offers.

mod calls_support;

use callbridge_engine::EngineError;
use callbridge_engine::call::{Input, MediaReply};
use callbridge_model::{LegState, MediaTransport, PlatformEvent, TerminationCause};
use calls_support::*;

/// Alice (Slack) calling Bob (Teams), connected: legs L1 and L2.
fn connected_call(h: &mut Harness) {
    h.feed(requested(1, alice(), bob()), at(0));
    h.feed(offer_ready(1, 2), at(0));
    h.feed(join(1, 1), at(1));
    h.feed(answer_ready(1, 1), at(1));
    h.feed(answered(1, 2), at(2));
}

#[test]
fn glare_refuses_the_second_call_and_keeps_the_first() {
    let mut h = Harness::new();
    h.feed(requested(1, alice(), bob()), at(0));
    h.feed(offer_ready(1, 2), at(0));
    assert_outputs(
        h.feed(requested(2, bob(), alice()), at(1)),
        &[r#"teams reply Ev2 "Alice is calling you right now — answer that call.""#],
    );
    assert!(
        h.engine.call(call_id(2)).is_none(),
        "no second call is recorded"
    );
    // The first call can still connect.
    h.feed(join(1, 1), at(2));
    h.feed(answer_ready(1, 1), at(2));
    let outputs = h.feed(answered(1, 2), at(3));
    assert!(outputs.contains(&"media bridge".to_owned()), "{outputs:?}");
}

#[test]
fn double_call_within_the_window_is_refused_as_already_calling() {
    let mut h = Harness::new();
    h.feed(requested(1, alice(), bob()), at(0));
    assert_outputs(
        h.feed(requested(2, alice(), bob()), at(2)),
        &[r#"slack reply Ev2 "You are already calling Bob.""#],
    );
    // Past the window the first call is still up: Alice is busy.
    assert_outputs(
        h.feed(requested(3, alice(), bob()), at(10)),
        &[r#"slack reply Ev3 "You are already on a call.""#],
    );
    assert_eq!(h.engine.live_calls().count(), 1);
}

#[test]
fn busy_callee_is_refused_without_a_record() {
    let mut h = Harness::new();
    connected_call(&mut h);
    assert_outputs(
        h.feed(requested(2, carol(), bob()), at(5)),
        &[r#"slack reply Ev2 "Bob is on another call.""#],
    );
    assert!(h.engine.call(call_id(2)).is_none());
}

#[test]
fn do_not_disturb_callee_is_recorded_as_busy_with_a_missed_call() {
    let mut h = Harness::new();
    let bob = callbridge_engine::call::Party { dnd: true, ..bob() };
    assert_outputs(
        h.feed(requested(1, alice(), bob), at(0)),
        &[
            "persist Requested",
            r#"slack reply Ev1 "Bob is in Do Not Disturb; they will see that you called.""#,
            r#"teams missed-call teams:b0b from=UALICE "Alice""#,
            "persist Ended",
            "record busy",
        ],
    );
    assert!(h.engine.call(call_id(1)).is_none());
}

#[test]
fn calls_between_two_users_of_one_platform_are_misuse() {
    let mut h = Harness::new();
    let input = requested(1, alice(), carol());
    assert!(matches!(
        h.engine.handle_input(input, at(0)),
        Err(EngineError::Misuse(_))
    ));
    assert_outputs(h.drain(), &[]);
}

#[test]
fn drain_refuses_new_calls_and_forces_the_rest_down_at_the_deadline() {
    let mut h = Harness::new();
    connected_call(&mut h);
    assert_outputs(h.feed(Input::Drain { deadline: at(100) }, at(10)), &[]);
    assert!(h.engine.is_draining());
    assert_eq!(h.deadline, Some(at(100)));
    assert_outputs(
        h.feed(requested(2, carol(), dave()), at(11)),
        &[r#"slack reply Ev2 "callbridge is restarting; try again in a minute.""#],
    );
    assert_outputs(h.tick(at(99)), &[]);
    assert_outputs(
        h.tick(at(100)),
        &[
            "slack hang-up L1 drain_forced",
            "teams hang-up L2 drain_forced",
            "media release",
            "persist Ending",
        ],
    );
    h.feed(leg_ended(1, 1, TerminationCause::Normal), at(100));
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Normal), at(100)),
        &["persist Ended", "record drain_forced"],
    );
}

#[test]
fn reoffers_on_a_connected_leg_are_answered_or_refused() {
    let mut h = Harness::new();
    connected_call(&mut h);
    let reoffer = || {
        platform(PlatformEvent::LegReoffered {
            call: call_id(1),
            leg: leg_id(2),
            offer: offer(MediaTransport::SipRtp),
        })
    };
    assert_outputs(h.feed(reoffer(), at(10)), &["media accept L2"]);
    assert_outputs(
        h.feed(answer_ready(1, 2), at(10)),
        &["teams answer-reoffer L2 some"],
    );
    assert_outputs(h.feed(reoffer(), at(11)), &["media accept L2"]);
    let failed = media(MediaReply::NegotiationFailed {
        call: call_id(1),
        leg: leg_id(2),
    });
    assert_outputs(h.feed(failed, at(11)), &["teams answer-reoffer L2 none"]);
    // No re-offer pending: an answer is out of order and changes nothing.
    let stray = answer_ready(1, 2);
    assert!(matches!(
        h.engine.handle_input(stray, at(12)),
        Err(EngineError::OutOfOrder(_))
    ));
    assert_outputs(h.drain(), &[]);
}

#[test]
fn hold_and_resume_are_persisted_on_the_leg() {
    let mut h = Harness::new();
    connected_call(&mut h);
    let hold = |held| {
        platform(PlatformEvent::LegHoldChanged {
            call: call_id(1),
            leg: leg_id(2),
            held,
        })
    };
    assert_outputs(h.feed(hold(true), at(10)), &["persist Connected"]);
    let leg_state = |h: &Harness| h.engine.call(call_id(1)).expect("live").legs[1].state;
    assert_eq!(leg_state(&h), LegState::OnHold);
    assert_outputs(h.feed(hold(false), at(20)), &["persist Connected"]);
    assert_eq!(leg_state(&h), LegState::Active);
}
