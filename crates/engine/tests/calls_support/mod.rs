//! Shared fixtures for the call engine tests: people, ids, virtual time, and a harness that
//! feeds inputs and describes the outputs in one line each, so that tests assert exact
//! sequences.

// Each test binary uses part of this module.
#![allow(dead_code)]

use callbridge_engine::call::{
    CallConfig, CallEngine, Input, MediaCommand, MediaReply, NewCall, Output, Party,
};
use callbridge_model::{
    CallId, EventId, LegId, MediaAnswer, MediaOffer, MediaTransport, Notice, PlatformCommand,
    PlatformEvent, Sdp, TenantId, TerminationCause, UserRef,
};
use chrono::{DateTime, TimeDelta, Utc};

/// A test's start of time.
pub(crate) fn t0() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + TimeDelta::days(20_000)
}

/// `secs` seconds after [`t0`].
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    t0() + TimeDelta::seconds(secs)
}

fn uuid_text(n: u64) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

/// Call id number `n`.
pub(crate) fn call_id(n: u64) -> CallId {
    uuid_text(n).parse().expect("uuid")
}

/// Leg id number `n`.
pub(crate) fn leg_id(n: u64) -> LegId {
    uuid_text(n).parse().expect("uuid")
}

/// A Slack user.
pub(crate) fn slack(user: &str) -> UserRef {
    UserRef::Slack {
        team: "TACME".parse().expect("team"),
        user: user.parse().expect("user"),
    }
}

/// A Teams user; `n` names them in descriptions (`teams:n`).
pub(crate) fn teams(n: u64) -> UserRef {
    UserRef::Teams {
        tenant: uuid_text(0xabc).parse().expect("tenant"),
        user: uuid_text(n).parse().expect("user"),
    }
}

/// Alice, on Slack.
pub(crate) fn alice() -> Party {
    Party {
        user: slack("UALICE"),
        name: "Alice".to_owned(),
        dnd: false,
    }
}

/// Bob, on Teams.
pub(crate) fn bob() -> Party {
    Party {
        user: teams(0xb0b),
        name: "Bob".to_owned(),
        dnd: false,
    }
}

/// Carol, on Slack.
pub(crate) fn carol() -> Party {
    Party {
        user: slack("UCAROL"),
        name: "Carol".to_owned(),
        dnd: false,
    }
}

/// Dave, on Teams.
pub(crate) fn dave() -> Party {
    Party {
        user: teams(0xdae),
        name: "Dave".to_owned(),
        dnd: false,
    }
}

/// Call `n` from `caller` to `callee`; its legs are `2n-1` (caller) and `2n` (callee).
pub(crate) fn new_call(n: u64, caller: Party, callee: Party) -> NewCall {
    NewCall {
        call: call_id(n),
        tenant: TenantId::from_uuid(*call_id(0x7e).as_uuid()),
        caller,
        callee,
        caller_leg: leg_id(2 * n - 1),
        callee_leg: leg_id(2 * n),
        join_url: format!("https://callbridge.example/join/{n}")
            .parse()
            .expect("url"),
    }
}

/// The request event that asked for call `n`.
pub(crate) fn request_id(n: u64) -> EventId {
    format!("Ev{n}").parse().expect("event id")
}

/// A request for call `n`.
pub(crate) fn requested(n: u64, caller: Party, callee: Party) -> Input {
    Input::Requested {
        request: request_id(n),
        call: new_call(n, caller, callee),
    }
}

fn sdp(tag: &str) -> Sdp {
    Sdp::parse(&format!("v=0\r\ns={tag}\r\n")).expect("sdp")
}

/// An SDP offer.
pub(crate) fn offer(transport: MediaTransport) -> MediaOffer {
    MediaOffer {
        transport,
        sdp: sdp("offer"),
    }
}

/// An SDP answer.
pub(crate) fn answer(transport: MediaTransport) -> MediaAnswer {
    MediaAnswer {
        transport,
        sdp: sdp("answer"),
    }
}

/// Platform event input.
pub(crate) fn platform(event: PlatformEvent) -> Input {
    Input::Platform(event)
}

/// Media reply input.
pub(crate) fn media(reply: MediaReply) -> Input {
    Input::Media(reply)
}

/// `LegRinging`.
pub(crate) fn ringing(n: u64, leg: u64) -> Input {
    platform(PlatformEvent::LegRinging {
        call: call_id(n),
        leg: leg_id(leg),
    })
}

/// `LegAnswered` carrying a SIP answer.
pub(crate) fn answered(n: u64, leg: u64) -> Input {
    platform(PlatformEvent::LegAnswered {
        call: call_id(n),
        leg: leg_id(leg),
        answer: Some(answer(MediaTransport::SipRtp)),
    })
}

/// `JoinRequested` from a browser.
pub(crate) fn join(n: u64, leg: u64) -> Input {
    platform(PlatformEvent::JoinRequested {
        call: call_id(n),
        leg: leg_id(leg),
        offer: offer(MediaTransport::WebRtc),
    })
}

/// `LegEnded`.
pub(crate) fn leg_ended(n: u64, leg: u64, cause: TerminationCause) -> Input {
    platform(PlatformEvent::LegEnded {
        call: call_id(n),
        leg: leg_id(leg),
        cause,
    })
}

/// `OfferReady` for a SIP leg.
pub(crate) fn offer_ready(n: u64, leg: u64) -> Input {
    media(MediaReply::OfferReady {
        call: call_id(n),
        leg: leg_id(leg),
        offer: offer(MediaTransport::SipRtp),
    })
}

/// `AnswerReady`.
pub(crate) fn answer_ready(n: u64, leg: u64) -> Input {
    media(MediaReply::AnswerReady {
        call: call_id(n),
        leg: leg_id(leg),
        answer: answer(MediaTransport::WebRtc),
    })
}

/// The timing rules every test uses (the defaults).
pub(crate) fn config() -> CallConfig {
    CallConfig::default()
}

/// An engine and the outputs it produced, described.
pub(crate) struct Harness {
    /// The engine under test.
    pub(crate) engine: CallEngine,
    /// The deadline of the last drain.
    pub(crate) deadline: Option<DateTime<Utc>>,
    /// Every output so far, raw.
    pub(crate) log: Vec<Output>,
}

impl Harness {
    /// A fresh engine with the default rules.
    pub(crate) fn new() -> Self {
        Self {
            engine: CallEngine::new(config()),
            deadline: None,
            log: Vec::new(),
        }
    }

    /// Feeds `input` at `now` (it must be accepted) and returns the described outputs.
    pub(crate) fn feed(&mut self, input: Input, now: DateTime<Utc>) -> Vec<String> {
        self.engine
            .handle_input(input, now)
            .expect("input accepted");
        self.drain()
    }

    /// Feeds `Timeout` at `now`.
    pub(crate) fn tick(&mut self, now: DateTime<Utc>) -> Vec<String> {
        self.feed(Input::Timeout, now)
    }

    /// Drains the engine's outputs up to its deadline.
    pub(crate) fn drain(&mut self) -> Vec<String> {
        let mut described = Vec::new();
        loop {
            match self.engine.poll_output() {
                Output::Timeout(deadline) => {
                    self.deadline = Some(deadline);
                    return described;
                }
                output => {
                    described.push(describe(&output));
                    self.log.push(output);
                }
            }
        }
    }
}

/// A leg's short name: `L<n>`.
pub(crate) fn leg_name(leg: &LegId) -> String {
    let text = leg.to_string();
    let n = u64::from_str_radix(&text[24..], 16).expect("test leg id");
    format!("L{n}")
}

/// A user's short name: the Slack user id, or `teams:<hex>`.
pub(crate) fn who(user: &UserRef) -> String {
    match user {
        UserRef::Slack { user, .. } => user.as_str().to_owned(),
        UserRef::Teams { user, .. } => {
            format!("teams:{}", user.to_string()[24..].trim_start_matches('0'))
        }
        other => format!("{other:?}"),
    }
}

fn some(present: bool) -> &'static str {
    if present { "some" } else { "none" }
}

/// One output in one line.
pub(crate) fn describe(output: &Output) -> String {
    match output {
        Output::Persist(call) => format!("persist {:?}", call.state),
        Output::Record(cdr) => format!("record {}", cdr.cause.as_str()),
        Output::Media(command) => match command {
            MediaCommand::PrepareOffer { leg, .. } => format!("media prepare {}", leg_name(leg)),
            MediaCommand::AcceptOffer { leg, .. } => format!("media accept {}", leg_name(leg)),
            MediaCommand::ApplyAnswer { leg, .. } => format!("media apply {}", leg_name(leg)),
            MediaCommand::Bridge { .. } => "media bridge".to_owned(),
            MediaCommand::Release { .. } => "media release".to_owned(),
        },
        Output::JoinAnswer { leg, answer, .. } => {
            format!("join-answer {} {}", leg_name(leg), some(answer.is_some()))
        }
        Output::Timeout(_) => "timeout".to_owned(),
        Output::Command { platform, command } => {
            format!("{} {}", platform.as_str(), describe_command(command))
        }
    }
}

fn describe_command(command: &PlatformCommand) -> String {
    match command {
        PlatformCommand::PostCallCard { leg, to, title, .. } => {
            format!("post-card {} to={} {title:?}", leg_name(leg), who(to))
        }
        PlatformCommand::UpdateCallCard { leg, state, .. } => {
            format!("card {} {state:?}", leg_name(leg))
        }
        PlatformCommand::PlaceCall {
            leg,
            to,
            caller_display,
            ..
        } => {
            let to = match to {
                callbridge_model::CallTarget::User(user) => who(user),
                other => format!("{other:?}"),
            };
            format!("place {} to={to} display={caller_display:?}", leg_name(leg))
        }
        PlatformCommand::AnswerCall { leg, .. } => format!("answer-call {}", leg_name(leg)),
        PlatformCommand::AnswerReoffer { leg, answer, .. } => {
            format!(
                "answer-reoffer {} {}",
                leg_name(leg),
                some(answer.is_some())
            )
        }
        PlatformCommand::HangUp { leg, cause, .. } => {
            format!("hang-up {} {}", leg_name(leg), cause.as_str())
        }
        PlatformCommand::Reply { to_event, text } => format!("reply {to_event} {text:?}"),
        PlatformCommand::SendNotice { to, notice } => match notice {
            Notice::Info { text } => format!("notice {} {text:?}", who(to)),
            Notice::MissedCall {
                caller,
                caller_name,
            } => {
                format!(
                    "missed-call {} from={} {caller_name:?}",
                    who(to),
                    who(caller)
                )
            }
            other => format!("notice {other:?}"),
        },
        other => format!("{other:?}"),
    }
}

/// Asserts the described outputs equal `expected`.
#[track_caller]
#[allow(clippy::needless_pass_by_value)] // owned, so that call sites read `assert_outputs(h.feed(..), ..)`
pub(crate) fn assert_outputs(actual: Vec<String>, expected: &[&str]) {
    let expected: Vec<String> = expected.iter().map(|line| (*line).to_owned()).collect();
    assert_eq!(actual, expected);
}
pub(crate) mod script;
