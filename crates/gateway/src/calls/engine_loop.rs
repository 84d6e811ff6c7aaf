//! The one task that owns the call engine: it feeds inputs and the clock in, re-arms one timer,
//! and routes every output to the driver of its call (or runs it at once when it belongs to no
//! live call: replies, notices, join answers).

use callbridge_engine::CallEngine;
use callbridge_engine::call::{Input, MediaCommand, Output};
use std::collections::HashSet;

use callbridge_model::{Call, CallId, CallState, PlatformCommand};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::driver::{self, DriverDeps, Drivers, Effect};
use super::joins::JoinWaiters;
use super::views::ViewBoard;
use crate::mirror::MirrorService;

/// Longest the loop sleeps without an input, whatever the engine says.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

pub(super) struct EngineLoop {
    pub(super) engine: CallEngine,
    pub(super) inputs: mpsc::Receiver<Input>,
    pub(super) deps: DriverDeps,
    pub(super) joins: JoinWaiters,
    pub(super) views: ViewBoard,
    pub(super) mirror: Option<MirrorService>,
    /// Calls whose parties show "on a call" on the other platform.
    pub(super) on_call: HashSet<CallId>,
}

impl EngineLoop {
    pub(super) async fn run(mut self) {
        let mut drivers = Drivers::new();
        let mut deadline: Option<DateTime<Utc>> = None;
        loop {
            let wait = deadline
                .and_then(|at| (at - Utc::now()).to_std().ok())
                .unwrap_or(std::time::Duration::ZERO)
                .min(MAX_SLEEP);
            let input = tokio::select! {
                input = self.inputs.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                () = tokio::time::sleep(wait), if deadline.is_some() => Input::Timeout,
            };
            if let Err(error) = self.engine.handle_input(input, Utc::now()) {
                metrics::counter!("callbridge_engine_inputs_refused_total").increment(1);
                tracing::debug!(%error, "the call engine refused an input");
            }
            deadline = Some(self.drain(&mut drivers));
            metrics::gauge!("callbridge_live_calls").set(self.engine.live_calls().count() as f64);
        }
    }

    /// Routes outputs until the engine names its next deadline.
    fn drain(&mut self, drivers: &mut Drivers) -> DateTime<Utc> {
        loop {
            match self.engine.poll_output() {
                Output::Timeout(at) => {
                    drivers.retain(|id, _| self.engine.call(*id).is_some());
                    return at;
                }
                Output::JoinAnswer { call, leg, answer } => {
                    self.joins.resolve(call, leg, answer);
                }
                Output::Persist(call) => {
                    self.views.follow(&call);
                    self.mirror_on_call(&call);
                    let id = call.id;
                    self.route(drivers, id, Effect::Persist(call));
                }
                Output::Record(cdr) => {
                    let id = cdr.call_id;
                    self.route(drivers, id, Effect::Record(cdr));
                    drivers.remove(&id);
                }
                Output::Command { platform, command } => match call_of(&command) {
                    Some(id) => self.route(drivers, id, Effect::Command(platform, command)),
                    None => driver::run_detached(&self.deps.platforms, platform, command),
                },
                Output::Media(command) => {
                    let id = media_call(&command);
                    self.route(drivers, id, Effect::Media(command));
                }
            }
        }
    }

    /// Tells the presence mirror when a call's parties start and stop being on it.
    fn mirror_on_call(&mut self, call: &Call) {
        let Some(mirror) = &self.mirror else {
            return;
        };
        let on_call = match call.state {
            CallState::Connected if self.on_call.insert(call.id) => true,
            CallState::Ending | CallState::Ended if self.on_call.remove(&call.id) => false,
            _ => return,
        };
        for leg in &call.legs {
            mirror.on_call(leg.user.clone(), on_call);
        }
    }

    fn route(&self, drivers: &mut Drivers, call: CallId, effect: Effect) {
        let effect = match drivers.get(&call) {
            Some(tx) => match tx.send(effect) {
                Ok(()) => return,
                Err(mpsc::error::SendError(effect)) => effect,
            },
            None => effect,
        };
        // A call's first effect starts its driver. It is kept until the call's record is
        // written (a call can start and end in one turn) or the engine no longer holds the
        // call (see `drain`), when its channel closes and the driver ends.
        let tx = driver::spawn(self.deps.clone(), call);
        let _ = tx.send(effect);
        drivers.insert(call, tx);
    }
}

/// The call a platform command belongs to, for commands that are part of a call.
const fn call_of(command: &PlatformCommand) -> Option<CallId> {
    match command {
        PlatformCommand::PostCallCard { call, .. }
        | PlatformCommand::UpdateCallCard { call, .. }
        | PlatformCommand::PlaceCall { call, .. }
        | PlatformCommand::AnswerCall { call, .. }
        | PlatformCommand::AnswerReoffer { call, .. }
        | PlatformCommand::HangUp { call, .. } => Some(*call),
        _ => None,
    }
}

const fn media_call(command: &MediaCommand) -> CallId {
    match command {
        MediaCommand::PrepareOffer { call, .. }
        | MediaCommand::AcceptOffer { call, .. }
        | MediaCommand::ApplyAnswer { call, .. }
        | MediaCommand::Bridge { call }
        | MediaCommand::Release { call } => *call,
    }
}
