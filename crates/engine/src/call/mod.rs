//! One state machine per call, behind [`CallEngine`].
//!
//! The engine is sans-IO: the gateway feeds it [`Input`]s with the current time, then drains
//! [`Output`]s with [`CallEngine::poll_output`] until it returns [`Output::Timeout`], the instant
//! at which to feed [`Input::Timeout`]. Deadlines fire only on `Input::Timeout`.
//!
//! Per call, a typed phase (`phase`): `Setup` (media prepares the offer for a SIP leg
//! callbridge places) → `Alerting` (the callee is alerted; each leg negotiates on its own) →
//! `Bridged` → `Ending` (legs hung up, awaiting their confirmation) → `Ended` (record and CDR
//! written, call forgotten). The model record ([`Call`]) is persisted at every change an
//! operator should see, first before anything rings; exactly one CDR follows the last record.
//!
//! Files: `refusal` (admission rules), `outbound` (requested calls, both directions),
//! `incoming` (calls from Teams telephony), `alerting` (negotiation up to the bridge),
//! `connected` (hold, re-offers), `teardown` (ending and the CDR), `timers` (deadlines).

mod alerting;
mod connected;
mod event;
mod incoming;
mod io;
mod live;
mod outbound;
mod phase;
mod refusal;
mod teardown;
mod text;
mod timers;
mod turn;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use callbridge_model::{Call, CallId, Platform, TerminationCause};
use chrono::{DateTime, TimeDelta, Utc};

pub use io::*;

use self::event::{Event, split};
use self::live::Live;
use self::phase::Phase;
use self::refusal::admit;
use self::teardown::end;
use self::turn::Turn;
use crate::error::EngineError;

/// Timing rules for calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallConfig {
    /// How long a Teams callee rings before the call ends with `NoAnswer` (default 45 s).
    pub ring_timeout: Duration,
    /// The longest a call may stay connected before it ends with `MaxDuration` (default 4 h).
    pub max_duration: Duration,
    /// How long a leg's `HangUp` may go unconfirmed (no `LegEnded`) before the leg is
    /// considered gone and the call is recorded as ended (default 2 s).
    pub teardown_grace: Duration,
    /// A second request from the same caller to the same callee while the first is still up
    /// and younger than this is a double `/call` (default 10 s).
    pub duplicate_window: Duration,
    /// How long a Slack callee of a Teams user's call has to join (default 45 s, like the ring
    /// timeout).
    pub join_timeout: Duration,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            ring_timeout: Duration::from_secs(45),
            max_duration: Duration::from_secs(4 * 3600),
            teardown_grace: Duration::from_secs(2),
            duplicate_window: Duration::from_secs(10),
            join_timeout: Duration::from_secs(45),
        }
    }
}

/// How far ahead [`CallEngine::poll_output`] puts the deadline when nothing is scheduled.
pub const IDLE_DEADLINE: TimeDelta = TimeDelta::hours(1);

/// The calls of one gateway, driven by inputs and time.
#[derive(Debug)]
pub struct CallEngine {
    config: CallConfig,
    calls: BTreeMap<CallId, Live>,
    outputs: VecDeque<Output>,
    /// The time of the last input.
    now: DateTime<Utc>,
    draining: bool,
    /// When the calls still up are ended with `DrainForced`; cleared once that happened.
    drain_deadline: Option<DateTime<Utc>>,
}

impl CallEngine {
    /// An engine holding no calls.
    pub fn new(config: CallConfig) -> Self {
        Self {
            config,
            calls: BTreeMap::new(),
            outputs: VecDeque::new(),
            now: DateTime::UNIX_EPOCH,
            draining: false,
            drain_deadline: None,
        }
    }

    /// Feeds one input that happened at `now`; then drain [`Self::poll_output`].
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownCall`] for an input about a call the engine does not hold (never
    /// known, or already ended); [`EngineError::OutOfOrder`] for one that does not fit the
    /// call's state; [`EngineError::Misuse`] for a new call that is malformed (both parties on
    /// one platform, equal leg ids, an id already in use). On error nothing changes and
    /// nothing is output.
    pub fn handle_input(&mut self, input: Input, now: DateTime<Utc>) -> Result<(), EngineError> {
        self.now = self.now.max(now);
        let mut turn = Turn {
            now,
            config: &self.config,
            out: Vec::new(),
        };
        match input {
            Input::Requested { request, call } => {
                check_new(&call, &self.calls, Platform::Slack, Platform::Teams, true)?;
                let admission = admit(
                    &call,
                    &self.calls,
                    self.draining,
                    self.config.duplicate_window,
                    now,
                );
                if let Some(live) = outbound::start(request, call, admission, &mut turn) {
                    self.calls.insert(live.ctx.new.call, live);
                }
            }
            Input::Incoming { call, offer } => {
                check_new(&call, &self.calls, Platform::Teams, Platform::Slack, false)?;
                let admission = admit(
                    &call,
                    &self.calls,
                    self.draining,
                    self.config.duplicate_window,
                    now,
                );
                let live = incoming::start(call, offer, &admission, &mut turn);
                store(&mut self.calls, live);
            }
            Input::Drain { deadline } => {
                self.draining = true;
                let earliest = self
                    .drain_deadline
                    .map_or(deadline, |known| known.min(deadline));
                self.drain_deadline = Some(earliest);
            }
            Input::Timeout => {
                if self.drain_deadline.is_some_and(|deadline| deadline <= now) {
                    self.drain_deadline = None;
                    drain(&mut self.calls, &mut turn);
                }
                expire_due(&mut self.calls, &mut turn);
            }
            other => {
                if let Some((id, event)) = split(other) {
                    let live = self.calls.get(&id).ok_or(EngineError::UnknownCall)?;
                    // Work on a copy so that a refused input leaves the call untouched.
                    let next = step(live.clone(), event, &mut turn)?;
                    store(&mut self.calls, next);
                }
            }
        }
        self.outputs.extend(turn.out);
        Ok(())
    }

    /// The next output. Once everything is drained, returns [`Output::Timeout`] with the
    /// earliest deadline of any call (or of the drain); with nothing scheduled, the time of
    /// the last input plus [`IDLE_DEADLINE`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        let deadline = self
            .calls
            .values()
            .filter_map(|live| live.phase.deadline())
            .chain(self.drain_deadline)
            .min()
            .unwrap_or(self.now + IDLE_DEADLINE);
        Output::Timeout(deadline)
    }

    /// The call's model record as last persisted, while the engine holds the call.
    pub fn call(&self, id: CallId) -> Option<&Call> {
        self.calls.get(&id).map(|live| &live.ctx.record)
    }

    /// The records of every call the engine holds (not yet ended), in id order.
    pub fn live_calls(&self) -> impl Iterator<Item = &Call> {
        self.calls.values().map(|live| &live.ctx.record)
    }

    /// Whether the engine refuses new calls (after [`Input::Drain`]).
    pub fn is_draining(&self) -> bool {
        self.draining
    }
}

/// Rejects a malformed new call before anything happens.
fn check_new(
    call: &NewCall,
    calls: &BTreeMap<CallId, Live>,
    caller_on: Platform,
    callee_on: Platform,
    either_way: bool,
) -> Result<(), EngineError> {
    let (caller, callee) = (call.caller.user.platform(), call.callee.user.platform());
    let fits = (caller == caller_on && callee == callee_on)
        || (either_way && caller == callee_on && callee == caller_on);
    if !fits {
        return Err(EngineError::Misuse(
            "a call joins a Slack user and a Teams user",
        ));
    }
    if call.caller_leg == call.callee_leg {
        return Err(EngineError::Misuse("the two legs need distinct ids"));
    }
    if calls.contains_key(&call.call) {
        return Err(EngineError::Misuse("the call id is already in use"));
    }
    Ok(())
}

/// Keeps a call that is still live; forgets one that ended.
fn store(calls: &mut BTreeMap<CallId, Live>, live: Live) {
    if matches!(live.phase, Phase::Ended) {
        calls.remove(&live.ctx.new.call);
    } else {
        calls.insert(live.ctx.new.call, live);
    }
}

/// One event on one call.
fn step(live: Live, event: Event, turn: &mut Turn<'_>) -> Result<Live, EngineError> {
    let Live { mut ctx, phase } = live;
    if let Some(leg) = event.leg().filter(|leg| !ctx.has_leg(*leg)) {
        if let Event::Join(..) = event {
            turn.emit(Output::JoinAnswer {
                call: ctx.new.call,
                leg,
                answer: None,
            });
            return Ok(Live { ctx, phase });
        }
        return Err(EngineError::OutOfOrder("the leg is not part of the call"));
    }
    let phase = match phase {
        Phase::Setup(setup) => outbound::on_setup(setup, &mut ctx, event, turn)?,
        Phase::Alerting(alerting) => alerting::on_alerting(alerting, &mut ctx, event, turn)?,
        Phase::Bridged(bridged) => connected::on_bridged(bridged, &mut ctx, event, turn)?,
        Phase::Ending(ending) => on_ending(ending, &mut ctx, &event, turn),
        Phase::Ended => Phase::Ended,
    };
    Ok(Live { ctx, phase })
}

/// An event while the call is ending: only confirmations matter; late replies are dropped.
fn on_ending(
    ending: phase::Ending,
    ctx: &mut live::Ctx,
    event: &Event,
    turn: &mut Turn<'_>,
) -> Phase {
    match event {
        Event::LegEnded(leg, _) | Event::CommandFailed(leg) if ending.awaiting.contains(leg) => {
            teardown::acknowledge(ending, ctx, *leg, turn)
        }
        Event::Join(leg, _) => {
            turn.emit(Output::JoinAnswer {
                call: ctx.new.call,
                leg: *leg,
                answer: None,
            });
            Phase::Ending(ending)
        }
        _ => Phase::Ending(ending),
    }
}

/// The drain deadline passed: every call still up ends with `DrainForced`.
fn drain(calls: &mut BTreeMap<CallId, Live>, turn: &mut Turn<'_>) {
    let ids: Vec<CallId> = calls.keys().copied().collect();
    for id in ids {
        if let Some(Live { mut ctx, phase }) = calls.remove(&id) {
            let phase = if phase.is_active() {
                end(
                    phase,
                    &mut ctx,
                    TerminationCause::DrainForced,
                    None,
                    [],
                    turn,
                )
            } else {
                phase
            };
            store(calls, Live { ctx, phase });
        }
    }
}

/// Every call whose deadline has passed moves on.
fn expire_due(calls: &mut BTreeMap<CallId, Live>, turn: &mut Turn<'_>) {
    let now = turn.now;
    let due: Vec<CallId> = calls
        .iter()
        .filter(|(_, live)| {
            live.phase
                .deadline()
                .is_some_and(|deadline| deadline <= now)
        })
        .map(|(id, _)| *id)
        .collect();
    for id in due {
        if let Some(Live { mut ctx, phase }) = calls.remove(&id) {
            let phase = timers::expire(phase, &mut ctx, turn);
            store(calls, Live { ctx, phase });
        }
    }
}
