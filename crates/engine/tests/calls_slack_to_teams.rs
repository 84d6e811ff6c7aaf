//! A Slack user calls a Teams user: the happy path and every way it ends.

mod calls_support;

use callbridge_engine::EngineError;
use callbridge_engine::call::{Input, MediaReply};
use callbridge_model::{CallState, LegState, TerminationCause};
use calls_support::*;

/// Alice (Slack) calls Bob (Teams) and Bob's phone rings: call 1, legs L1 (Alice's browser)
/// and L2 (Bob's SIP leg).
fn ringing_call() -> Harness {
    let mut h = Harness::new();
    assert_outputs(
        h.feed(requested(1, alice(), bob()), at(0)),
        &["persist Requested", "media prepare L2"],
    );
    assert_outputs(
        h.feed(offer_ready(1, 2), at(1)),
        &[
            r#"teams place L2 to=teams:b0b display="Alice (Slack)""#,
            r#"slack post-card L1 to=UALICE "Calling Bob""#,
            r#"slack reply Ev1 "Calling Bob…""#,
        ],
    );
    assert_outputs(
        h.feed(ringing(1, 2), at(2)),
        &["persist Ringing", "slack card L1 Ringing"],
    );
    h
}

/// The same call, answered by Bob and joined by Alice.
fn connected_call() -> Harness {
    let mut h = ringing_call();
    assert_outputs(h.feed(join(1, 1), at(3)), &["media accept L1"]);
    assert_outputs(
        h.feed(answer_ready(1, 1), at(4)),
        &["join-answer L1 some", "persist Ringing"],
    );
    assert_outputs(
        h.feed(answered(1, 2), at(10)),
        &[
            "media apply L2",
            "media bridge",
            "persist Connected",
            "slack card L1 Active",
        ],
    );
    h
}

#[test]
fn happy_path_bridges_when_both_sides_are_ready_and_writes_one_cdr() {
    let mut h = connected_call();
    let call = h.engine.call(call_id(1)).expect("live").clone();
    assert_eq!(call.state, CallState::Connected);
    assert_eq!(call.answered_at, Some(at(10)));
    assert!(call.legs.iter().all(|leg| leg.state == LegState::Active));

    // Bob hangs up: Alice's browser leg is hung up, and the call ends when it confirms.
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Normal), at(70)),
        &["slack hang-up L1 normal", "media release", "persist Ending"],
    );
    assert_outputs(
        h.feed(leg_ended(1, 1, TerminationCause::Normal), at(70)),
        &["persist Ended", "record normal"],
    );
    let Some(callbridge_engine::call::Output::Record(cdr)) = h.log.last() else {
        panic!("the last output is the CDR");
    };
    assert_eq!(
        (cdr.caller.clone(), cdr.callee.clone()),
        (alice().user, bob().user)
    );
    assert_eq!(cdr.talk_seconds(), 60);
    assert!(
        h.engine.call(call_id(1)).is_none(),
        "an ended call is forgotten"
    );
    assert_eq!(h.engine.live_calls().count(), 0);
}

#[test]
fn teams_answer_before_the_slack_caller_joins_waits_for_the_join() {
    let mut h = ringing_call();
    assert_outputs(
        h.feed(answered(1, 2), at(5)),
        &["media apply L2", "persist Ringing"],
    );
    assert_eq!(
        h.engine.call(call_id(1)).expect("live").state,
        CallState::Ringing
    );
    assert_outputs(h.feed(join(1, 1), at(8)), &["media accept L1"]);
    assert_outputs(
        h.feed(answer_ready(1, 1), at(9)),
        &[
            "join-answer L1 some",
            "media bridge",
            "persist Connected",
            "slack card L1 Active",
        ],
    );
}

#[test]
fn slack_caller_hanging_up_ends_the_teams_leg() {
    let mut h = connected_call();
    assert_outputs(
        h.feed(leg_ended(1, 1, TerminationCause::Normal), at(30)),
        // The browser is gone; its card is ended too (nothing to await from it).
        &[
            "teams hang-up L2 normal",
            "slack hang-up L1 normal",
            "media release",
            "persist Ending",
        ],
    );
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Normal), at(31)),
        &["persist Ended", "record normal"],
    );
}

#[test]
fn caller_cancelling_while_it_rings_cancels_the_teams_leg() {
    let mut h = ringing_call();
    assert_outputs(
        h.feed(leg_ended(1, 1, TerminationCause::Normal), at(5)),
        &[
            "teams hang-up L2 cancelled",
            "media release",
            "persist Ending",
        ],
    );
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Cancelled), at(5)),
        &["persist Ended", "record cancelled"],
    );
}

#[test]
fn callee_declining_ends_the_call_and_tells_the_caller() {
    let mut h = ringing_call();
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Declined), at(6)),
        &[
            "slack hang-up L1 declined",
            r#"slack notice UALICE "Bob declined the call.""#,
            "media release",
            "persist Ended",
            "record declined",
        ],
    );
}

#[test]
fn callee_busy_on_teams_ends_with_busy() {
    let mut h = ringing_call();
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Busy), at(6)),
        &[
            "slack hang-up L1 busy",
            r#"slack notice UALICE "Bob is busy.""#,
            "media release",
            "persist Ended",
            "record busy",
        ],
    );
}

#[test]
fn no_answer_rings_out_at_45_seconds_not_before() {
    let mut h = ringing_call();
    // The ring timeout was armed when the call was placed, at 1 s.
    assert_eq!(h.deadline, Some(at(46)));
    assert_outputs(h.tick(at(45)), &[]);
    assert_eq!(
        h.engine.call(call_id(1)).expect("live").state,
        CallState::Ringing
    );
    assert_outputs(
        h.tick(at(46)),
        &[
            "teams hang-up L2 no_answer",
            "slack hang-up L1 no_answer",
            r#"slack notice UALICE "Bob did not answer.""#,
            "media release",
            "persist Ending",
        ],
    );
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::NoAnswer), at(46)),
        &["persist Ended", "record no_answer"],
    );
}

#[test]
fn teardown_grace_ends_the_call_when_a_leg_never_confirms() {
    let mut h = connected_call();
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Normal), at(100)),
        &["slack hang-up L1 normal", "media release", "persist Ending"],
    );
    assert_eq!(h.deadline, Some(at(102)));
    assert_outputs(h.tick(at(101)), &[]);
    assert_outputs(h.tick(at(102)), &["persist Ended", "record normal"]);
    // A late confirmation is about a call that no longer exists.
    let late = leg_ended(1, 1, TerminationCause::Normal);
    assert_eq!(
        h.engine.handle_input(late, at(103)),
        Err(EngineError::UnknownCall)
    );
    assert_outputs(h.drain(), &[]);
}

#[test]
fn media_timeout_hangs_up_both_legs() {
    let mut h = connected_call();
    let input = media(MediaReply::MediaTimeout { call: call_id(1) });
    assert_outputs(
        h.feed(input, at(50)),
        &[
            "slack hang-up L1 media_timeout",
            "teams hang-up L2 media_timeout",
            "media release",
            "persist Ending",
        ],
    );
    h.feed(leg_ended(1, 1, TerminationCause::Normal), at(50));
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Normal), at(51)),
        &["persist Ended", "record media_timeout"],
    );
}

#[test]
fn max_duration_ends_a_long_call() {
    let mut h = connected_call();
    let four_hours = 4 * 3600;
    assert_eq!(h.deadline, Some(at(10 + four_hours)));
    assert_outputs(h.tick(at(9 + four_hours)), &[]);
    assert_outputs(
        h.tick(at(10 + four_hours)),
        &[
            "slack hang-up L1 max_duration",
            "teams hang-up L2 max_duration",
            "media release",
            "persist Ending",
        ],
    );
    assert_outputs(
        h.tick(at(12 + four_hours)),
        &["persist Ended", "record max_duration"],
    );
}

#[test]
fn operator_hang_up_ends_both_legs_with_its_cause() {
    let mut h = connected_call();
    let input = Input::HangUp {
        call: call_id(1),
        cause: TerminationCause::Error,
    };
    assert_outputs(
        h.feed(input, at(20)),
        &[
            "slack hang-up L1 error",
            "teams hang-up L2 error",
            "media release",
            "persist Ending",
        ],
    );
}

#[test]
fn capacity_refusal_ends_the_call_before_anything_rings() {
    let mut h = Harness::new();
    h.feed(requested(1, alice(), bob()), at(0));
    let refused = media(MediaReply::CapacityRefused { call: call_id(1) });
    assert_outputs(
        h.feed(refused, at(0)),
        &[
            r#"slack reply Ev1 "callbridge is at capacity right now; try again shortly.""#,
            "media release",
            "persist Ended",
            "record error",
        ],
    );
}

#[test]
fn failing_to_place_the_teams_leg_ends_with_error() {
    let mut h = ringing_call();
    let failed = Input::CommandFailed {
        call: call_id(1),
        leg: leg_id(2),
        failure: callbridge_engine::call::CommandFailure::Rejected,
    };
    assert_outputs(
        h.feed(failed, at(3)),
        &[
            "slack hang-up L1 error",
            r#"slack notice UALICE "Could not reach Bob.""#,
            "media release",
            "persist Ended",
            "record error",
        ],
    );
}

#[test]
fn join_requests_that_cannot_be_honoured_get_no_answer() {
    let mut h = ringing_call();
    // For the Teams leg.
    assert_outputs(h.feed(join(1, 2), at(3)), &["join-answer L2 none"]);
    h.feed(join(1, 1), at(3));
    // A second time.
    assert_outputs(h.feed(join(1, 1), at(4)), &["join-answer L1 none"]);
    // The call ends while the browser waits for its answer: it is told there is none.
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Declined), at(5)),
        &[
            "join-answer L1 none",
            "slack hang-up L1 declined",
            r#"slack notice UALICE "Bob declined the call.""#,
            "media release",
            "persist Ended",
            "record declined",
        ],
    );
}

#[test]
fn join_requests_while_the_call_ends_get_no_answer() {
    let mut h = connected_call();
    h.feed(leg_ended(1, 2, TerminationCause::Normal), at(20));
    assert_outputs(h.feed(join(1, 1), at(20)), &["join-answer L1 none"]);
}

#[test]
fn events_for_unknown_calls_are_refused_without_outputs() {
    let mut h = Harness::new();
    for input in [
        ringing(9, 17),
        answered(9, 18),
        join(9, 17),
        offer_ready(9, 18),
    ] {
        assert_eq!(
            h.engine.handle_input(input, at(0)),
            Err(EngineError::UnknownCall)
        );
    }
    assert_outputs(h.drain(), &[]);
}
