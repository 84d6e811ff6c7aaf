//! A byte-driven script over a few calls, shared by the property test and the fuzz target:
//! decodes bytes into a small alphabet of inputs, feeds them, then winds everything down
//! (drain, every hang-up confirmed, time past every deadline) and checks that every call that
//! was persisted got exactly one CDR, after a last record that says `Ended` with a cause.

use std::collections::BTreeMap;

use callbridge_engine::call::{
    CallConfig, CallEngine, CommandFailure, Input, MediaCommand, MediaReply, NewCall, Output, Party,
};
use callbridge_model::{
    CallId, CallState, LegId, MediaAnswer, MediaOffer, MediaTransport, PlatformCommand,
    PlatformEvent, Sdp, TenantId, TerminationCause, UserRef,
};
use chrono::{DateTime, TimeDelta, Utc};

const CAUSES: [TerminationCause; 5] = [
    TerminationCause::Normal,
    TerminationCause::Declined,
    TerminationCause::Busy,
    TerminationCause::Cancelled,
    TerminationCause::Error,
];

fn id_text(n: u64) -> String {
    format!("00000000-0000-0000-0000-{n:012x}")
}

fn call_of(n: u8) -> CallId {
    id_text(u64::from(n))
        .parse()
        .unwrap_or_else(|_| unreachable!())
}

fn leg_of(n: u8) -> LegId {
    id_text(u64::from(n) + 0x100)
        .parse()
        .unwrap_or_else(|_| unreachable!())
}

fn party(index: u8, dnd: bool) -> Party {
    let (user, name) = match index % 4 {
        0 => (
            UserRef::Slack {
                team: parse("TACME"),
                user: parse("UALICE"),
            },
            "Alice",
        ),
        1 => (
            UserRef::Slack {
                team: parse("TACME"),
                user: parse("UCAROL"),
            },
            "Carol",
        ),
        2 => (
            UserRef::Teams {
                tenant: parse(&id_text(1)),
                user: parse(&id_text(0xb0b)),
            },
            "Bob",
        ),
        _ => (
            UserRef::Teams {
                tenant: parse(&id_text(1)),
                user: parse(&id_text(0xdae)),
            },
            "Dave",
        ),
    };
    Party {
        user,
        name: name.to_owned(),
        dnd,
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| unreachable!("fixture ids parse"))
}

fn sdp() -> Sdp {
    Sdp::parse("v=0\r\ns=-\r\n").unwrap_or_else(|_| unreachable!())
}

fn offer() -> MediaOffer {
    MediaOffer {
        transport: MediaTransport::SipRtp,
        sdp: sdp(),
    }
}

fn answer() -> MediaAnswer {
    MediaAnswer {
        transport: MediaTransport::SipRtp,
        sdp: sdp(),
    }
}

struct Bytes<'a>(std::slice::Iter<'a, u8>);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }
}

/// Runs the script; returns how many calls were bridged, or names the broken invariant.
pub(crate) fn run(bytes: &[u8]) -> Result<usize, String> {
    let mut runner = Runner::new();
    let mut bytes = Bytes(bytes.iter());
    while bytes.0.len() > 0 {
        let op = bytes.next();
        let (a, b) = (bytes.next(), bytes.next());
        let n = a % 3 + 1;
        // Usually one of the call's own legs; now and then another call's.
        let leg = if b & 4 == 0 {
            leg_of(2 * n - 1 + (b & 1))
        } else {
            leg_of(b % 8)
        };
        let call = call_of(n);
        let input = match op % 18 {
            0 => Input::Requested {
                request: parse(&format!("E{a}")),
                call: new_call(n, b, b >> 2, b & 0x40 != 0),
            },
            1 => Input::Incoming {
                call: new_call(n, 2 + (b & 1), b >> 1 & 1, b & 0x40 != 0),
                offer: offer(),
            },
            2 => Input::Platform(PlatformEvent::LegRinging { call, leg }),
            3 => {
                let answer = (b & 8 == 0).then(answer);
                Input::Platform(PlatformEvent::LegAnswered { call, leg, answer })
            }
            4 => Input::Platform(PlatformEvent::JoinRequested {
                call,
                leg,
                offer: offer(),
            }),
            5 => Input::Platform(PlatformEvent::LegEnded {
                call,
                leg,
                cause: CAUSES[usize::from(b >> 3) % 5],
            }),
            6 => Input::Media(MediaReply::OfferReady {
                call,
                leg,
                offer: offer(),
            }),
            7 => Input::Media(MediaReply::AnswerReady {
                call,
                leg,
                answer: answer(),
            }),
            8 => Input::Media(MediaReply::CapacityRefused { call }),
            9 => Input::Media(MediaReply::NegotiationFailed { call, leg }),
            10 => Input::Media(MediaReply::MediaTimeout { call }),
            11 => Input::CommandFailed {
                call,
                leg,
                failure: CommandFailure::Rejected,
            },
            12 => Input::HangUp {
                call,
                cause: CAUSES[usize::from(b) % 5],
            },
            13 => Input::Platform(PlatformEvent::LegHoldChanged {
                call,
                leg,
                held: b & 8 != 0,
            }),
            14 => Input::Platform(PlatformEvent::LegReoffered {
                call,
                leg,
                offer: offer(),
            }),
            15 => {
                // Jump to the engine's deadline, or just short of it.
                runner.now = runner.deadline.max(runner.now) - TimeDelta::seconds(i64::from(b & 1));
                Input::Timeout
            }
            16 => Input::Drain {
                deadline: runner.now + TimeDelta::seconds(i64::from(b)),
            },
            _ => {
                runner.now += TimeDelta::seconds(i64::from(b));
                continue;
            }
        };
        runner.feed(input)?;
    }
    runner.wind_down()?;
    runner.check()?;
    let bridged = runner
        .outputs
        .iter()
        .filter(|output| matches!(output, Output::Media(MediaCommand::Bridge { .. })))
        .count();
    Ok(bridged)
}

fn new_call(n: u8, caller: u8, callee: u8, dnd: bool) -> NewCall {
    NewCall {
        call: call_of(n),
        tenant: TenantId::from_uuid(*call_of(0x7e).as_uuid()),
        caller: party(caller, false),
        callee: party(callee, dnd),
        caller_leg: leg_of(2 * n - 1),
        callee_leg: leg_of(2 * n),
        join_url: parse(&format!("https://callbridge.example/join/{n}")),
    }
}

struct Runner {
    engine: CallEngine,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
    outputs: Vec<Output>,
}

impl Runner {
    fn new() -> Self {
        let now = DateTime::UNIX_EPOCH + TimeDelta::days(20_000);
        Self {
            engine: CallEngine::new(CallConfig::default()),
            now,
            deadline: now,
            outputs: Vec::new(),
        }
    }

    fn feed(&mut self, input: Input) -> Result<(), String> {
        let accepted = self.engine.handle_input(input, self.now).is_ok();
        let before = self.outputs.len();
        loop {
            match self.engine.poll_output() {
                Output::Timeout(deadline) => {
                    self.deadline = deadline;
                    break;
                }
                output => self.outputs.push(output),
            }
        }
        if !accepted && self.outputs.len() != before {
            return Err("a refused input produced outputs".to_owned());
        }
        Ok(())
    }

    /// Drain at once, then confirm every hang-up and move past every deadline until no call
    /// is left.
    fn wind_down(&mut self) -> Result<(), String> {
        self.feed(Input::Drain { deadline: self.now })?;
        self.feed(Input::Timeout)?;
        for _ in 0..8 {
            let hang_ups: Vec<(CallId, LegId)> = self
                .outputs
                .iter()
                .filter_map(|output| match output {
                    Output::Command {
                        command: PlatformCommand::HangUp { call, leg, .. },
                        ..
                    } => Some((*call, *leg)),
                    _ => None,
                })
                .collect();
            for (call, leg) in hang_ups {
                let ended = PlatformEvent::LegEnded {
                    call,
                    leg,
                    cause: TerminationCause::Normal,
                };
                self.feed(Input::Platform(ended))?;
            }
            self.now += TimeDelta::hours(5);
            self.feed(Input::Timeout)?;
            if self.engine.live_calls().next().is_none() {
                return Ok(());
            }
        }
        Err(format!(
            "calls still live after wind-down: {}",
            self.engine.live_calls().count()
        ))
    }

    /// Every persisted lifecycle of a call id ends with exactly one CDR after an `Ended`
    /// record with a cause; no CDR without a record.
    fn check(&self) -> Result<(), String> {
        // Per call id: the cause of the last persisted record if it was `Ended`, and whether a
        // lifecycle is open (persisted, no CDR yet).
        let mut open: BTreeMap<CallId, Option<TerminationCause>> = BTreeMap::new();
        for output in &self.outputs {
            match output {
                Output::Persist(call) => {
                    if let Some(Some(_)) = open.get(&call.id) {
                        return Err(format!("{}: persisted after its final record", call.id));
                    }
                    let ended = (call.state == CallState::Ended).then_some(call.termination);
                    if ended == Some(None) {
                        return Err(format!("{}: ended without a cause", call.id));
                    }
                    open.insert(call.id, ended.flatten());
                }
                Output::Record(cdr) => match open.remove(&cdr.call_id) {
                    Some(Some(cause)) if cause == cdr.cause => {}
                    other => return Err(format!("{}: CDR after {other:?}", cdr.call_id)),
                },
                _ => {}
            }
        }
        match open.keys().next() {
            Some(id) => Err(format!("{id}: persisted but never recorded")),
            None => Ok(()),
        }
    }
}
