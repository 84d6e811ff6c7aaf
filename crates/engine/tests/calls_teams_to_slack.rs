//! A Teams user calls a Slack user: through the bot (callbridge calls the Teams user back) and
//! by dialling the Slack user's number (an incoming SIP call).

mod calls_support;

use callbridge_engine::call::{Input, MediaReply};
use callbridge_model::{CallState, MediaTransport, TerminationCause};
use calls_support::*;

/// Bob (Teams) asks the bot to call Alice (Slack): call 1, legs L1 (Bob's SIP leg, placed by
/// callbridge) and L2 (Alice's browser).
fn requested_call() -> Harness {
    let mut h = Harness::new();
    assert_outputs(
        h.feed(requested(1, bob(), alice()), at(0)),
        &["persist Requested", "media prepare L1"],
    );
    assert_outputs(
        h.feed(offer_ready(1, 1), at(1)),
        &[
            r#"teams place L1 to=teams:b0b display="Alice (Slack)""#,
            r#"slack post-card L2 to=UALICE "Bob is calling""#,
            r#"teams reply Ev1 "Connecting you to Alice…""#,
            "persist Ringing",
        ],
    );
    h
}

/// Bob dials Alice's number: call 1 arrives on L1, Alice's browser leg is L2.
fn incoming_call(alice: callbridge_engine::call::Party) -> (Harness, Vec<String>) {
    let mut h = Harness::new();
    let input = Input::Incoming {
        call: new_call(1, bob(), alice),
        offer: offer(MediaTransport::SipRtp),
    };
    let outputs = h.feed(input, at(0));
    (h, outputs)
}

fn ringing_incoming() -> Harness {
    let (h, outputs) = incoming_call(alice());
    assert_outputs(
        outputs,
        &[
            "persist Requested",
            r#"slack post-card L2 to=UALICE "Bob is calling""#,
            "persist Ringing",
        ],
    );
    h
}

#[test]
fn bot_call_bridges_when_the_teams_caller_answers_and_the_slack_callee_joins() {
    let mut h = requested_call();
    assert_outputs(h.feed(ringing(1, 1), at(2)), &["persist Ringing"]);
    assert_outputs(
        h.feed(answered(1, 1), at(3)),
        &["media apply L1", "persist Ringing"],
    );
    assert_outputs(h.feed(join(1, 2), at(5)), &["media accept L2"]);
    assert_outputs(
        h.feed(answer_ready(1, 2), at(6)),
        &[
            "join-answer L2 some",
            "media bridge",
            "persist Connected",
            "slack card L2 Active",
        ],
    );
    let call = h.engine.call(call_id(1)).expect("live");
    assert_eq!(call.direction, callbridge_model::Direction::TeamsToSlack);
    assert_eq!(call.answered_at, Some(at(6)));
}

#[test]
fn slack_callee_not_joining_in_time_is_a_missed_call() {
    let mut h = requested_call();
    h.feed(answered(1, 1), at(3));
    assert_eq!(h.deadline, Some(at(46)));
    assert_outputs(h.tick(at(45)), &[]);
    assert_outputs(
        h.tick(at(46)),
        &[
            "teams hang-up L1 no_answer",
            "slack hang-up L2 no_answer",
            r#"teams notice teams:b0b "Alice did not answer.""#,
            r#"slack missed-call UALICE from=teams:b0b "Bob""#,
            "media release",
            "persist Ending",
        ],
    );
    assert_outputs(
        h.feed(leg_ended(1, 1, TerminationCause::Normal), at(46)),
        &["persist Ended", "record no_answer"],
    );
}

#[test]
fn slack_callee_hanging_up_a_connected_call_ends_the_teams_leg() {
    let mut h = requested_call();
    h.feed(answered(1, 1), at(3));
    h.feed(join(1, 2), at(5));
    h.feed(answer_ready(1, 2), at(6));
    assert_outputs(
        h.feed(leg_ended(1, 2, TerminationCause::Normal), at(60)),
        &[
            "teams hang-up L1 normal",
            "slack hang-up L2 normal",
            "media release",
            "persist Ending",
        ],
    );
    assert_outputs(
        h.feed(leg_ended(1, 1, TerminationCause::Normal), at(60)),
        &["persist Ended", "record normal"],
    );
}

#[test]
fn incoming_call_answers_both_legs_together_once_both_answers_are_ready() {
    let mut h = ringing_incoming();
    assert_outputs(
        h.feed(join(1, 2), at(4)),
        &["media accept L1", "media accept L2"],
    );
    assert_outputs(h.feed(answer_ready(1, 2), at(5)), &[]);
    assert_outputs(
        h.feed(answer_ready(1, 1), at(5)),
        &[
            "teams answer-call L1",
            "join-answer L2 some",
            "media bridge",
            "persist Connected",
            "slack card L2 Active",
        ],
    );
    assert_eq!(
        h.engine.call(call_id(1)).expect("live").state,
        CallState::Connected
    );
}

#[test]
fn incoming_call_answers_arrive_in_either_order() {
    let mut h = ringing_incoming();
    h.feed(join(1, 2), at(4));
    assert_outputs(h.feed(answer_ready(1, 1), at(5)), &[]);
    assert_outputs(
        h.feed(answer_ready(1, 2), at(5)),
        &[
            "teams answer-call L1",
            "join-answer L2 some",
            "media bridge",
            "persist Connected",
            "slack card L2 Active",
        ],
    );
}

#[test]
fn incoming_caller_giving_up_cancels_the_card_and_leaves_a_missed_call() {
    let mut h = ringing_incoming();
    assert_outputs(
        h.feed(leg_ended(1, 1, TerminationCause::Cancelled), at(10)),
        &[
            "slack hang-up L2 cancelled",
            r#"slack missed-call UALICE from=teams:b0b "Bob""#,
            "persist Ended",
            "record cancelled",
        ],
    );
}

#[test]
fn incoming_call_to_a_callee_in_do_not_disturb_is_turned_away_busy() {
    let (mut h, outputs) = incoming_call(callbridge_engine::call::Party {
        dnd: true,
        ..alice()
    });
    assert_outputs(
        outputs,
        &[
            "persist Requested",
            "teams hang-up L1 busy",
            r#"slack missed-call UALICE from=teams:b0b "Bob""#,
            "persist Ending",
        ],
    );
    assert_outputs(
        h.feed(leg_ended(1, 1, TerminationCause::Busy), at(0)),
        &["persist Ended", "record busy"],
    );
}

#[test]
fn incoming_call_to_a_busy_callee_is_turned_away_busy() {
    let mut h = Harness::new();
    // Alice is already calling Dave (call 2).
    h.feed(requested(2, alice(), dave()), at(0));
    let input = Input::Incoming {
        call: new_call(1, bob(), alice()),
        offer: offer(MediaTransport::SipRtp),
    };
    assert_outputs(
        h.feed(input, at(1)),
        &[
            "persist Requested",
            "teams hang-up L1 busy",
            r#"slack missed-call UALICE from=teams:b0b "Bob""#,
            "persist Ending",
        ],
    );
}

#[test]
fn incoming_call_refused_for_capacity_is_turned_away_busy() {
    let mut h = ringing_incoming();
    h.feed(join(1, 2), at(4));
    let refused = media(MediaReply::CapacityRefused { call: call_id(1) });
    assert_outputs(
        h.feed(refused, at(4)),
        &[
            "teams hang-up L1 busy",
            "join-answer L2 none",
            "slack hang-up L2 busy",
            r#"slack missed-call UALICE from=teams:b0b "Bob""#,
            "media release",
            "persist Ending",
        ],
    );
    assert_outputs(h.tick(at(6)), &["persist Ended", "record busy"]);
}
