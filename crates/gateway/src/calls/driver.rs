//! One driver per call: it carries out what the engine decided for that call, in order (store
//! writes, platform commands, media commands) and feeds the outcomes back to the engine as
//! inputs. A call's effects never overtake each other; different calls never wait for each
//! other.

use std::sync::Arc;

use callbridge_engine::call::{CommandFailure, Input, MediaCommand, MediaReply};
use callbridge_model::{Call, CallId, Cdr, LegId, Platform, PlatformCommand, PlatformEvent};
use callbridge_store::{CallStore, SqlStore};
use tokio::sync::mpsc;

use crate::media::{MediaService, MediaServiceError};
use crate::platforms::Platforms;

/// One thing to do for a call.
#[derive(Debug)]
pub(super) enum Effect {
    Persist(Call),
    Record(Cdr),
    Command(Platform, PlatformCommand),
    Media(MediaCommand),
}

/// What every driver shares.
#[derive(Clone)]
pub(super) struct DriverDeps {
    pub(super) store: SqlStore,
    pub(super) platforms: Platforms,
    pub(super) media: MediaService,
    pub(super) inputs: mpsc::Sender<Input>,
    /// How many drivers are running: a stopping gateway waits for zero, so that no call's
    /// hang-ups or record are cut off.
    pub(super) running: tokio::sync::watch::Sender<usize>,
}

/// Starts the driver of `call`; it ends after the call's record is written.
pub(super) fn spawn(deps: DriverDeps, call: CallId) -> mpsc::UnboundedSender<Effect> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    deps.running.send_modify(|running| *running += 1);
    tokio::spawn(async move {
        let running = deps.running.clone();
        let mut driver = Driver {
            deps,
            created: false,
            latest: None,
            dialogs: Vec::new(),
        };
        while let Some(effect) = rx.recv().await {
            if driver.run(effect).await {
                break;
            }
        }
        tracing::debug!(%call, "call driver finished");
        running.send_modify(|running| *running = running.saturating_sub(1));
    });
    tx
}

struct Driver {
    deps: DriverDeps,
    created: bool,
    latest: Option<Call>,
    /// Teams legs' SIP dialogs, as the trunk can end them after a crash: kept in the call
    /// record as the legs' `platform_ref`.
    dialogs: Vec<(LegId, String)>,
}

impl Driver {
    /// Carries out one effect; true once the call is over and recorded.
    async fn run(&mut self, effect: Effect) -> bool {
        match effect {
            Effect::Persist(call) => self.persist(call).await,
            Effect::Record(cdr) => {
                self.record(&cdr).await;
                return true;
            }
            Effect::Command(platform, command) => {
                let answered = match &command {
                    PlatformCommand::AnswerCall { leg, .. } => Some(*leg),
                    _ => None,
                };
                self.command(platform, command).await;
                if let Some(leg) = answered {
                    self.remember_dialog(leg).await;
                }
            }
            Effect::Media(command) => {
                let answered = match &command {
                    MediaCommand::ApplyAnswer { leg, .. } => Some(*leg),
                    _ => None,
                };
                self.media(command).await;
                if let Some(leg) = answered {
                    self.remember_dialog(leg).await;
                }
            }
        }
        false
    }

    async fn persist(&mut self, mut call: Call) {
        self.attach_dialogs(&mut call);
        let written = if !self.created {
            self.deps.store.create_call(&call).await
        } else if call.state.is_live() {
            self.deps.store.update_call(&call).await
        } else {
            // The ended record is written with its CDR, in one transaction.
            Ok(())
        };
        match written {
            Ok(()) => self.created = true,
            Err(error) => tracing::error!(%error, call = %call.id, "could not write a call record"),
        }
        self.latest = Some(call);
    }

    fn attach_dialogs(&self, call: &mut Call) {
        for leg in &mut call.legs {
            if let Some((_, dialog)) = self.dialogs.iter().find(|(id, _)| *id == leg.id) {
                leg.platform_ref = Some(dialog.clone());
            }
        }
    }

    /// Once a Teams leg's dialog is confirmed, keeps it in the call record, so that a
    /// restarted gateway can still hang the leg up.
    async fn remember_dialog(&mut self, leg: LegId) {
        let Some(teams) = self.deps.platforms.teams() else {
            return;
        };
        let Some(dialog) = teams.dialog_of(leg) else {
            return;
        };
        self.dialogs.retain(|(id, _)| *id != leg);
        self.dialogs.push((leg, dialog));
        if let Some(latest) = self.latest.clone()
            && self.created
            && latest.state.is_live()
        {
            self.persist(latest).await;
        }
    }

    async fn record(&mut self, cdr: &Cdr) {
        let Some(call) = self.latest.take() else {
            tracing::error!(call = %cdr.call_id, "a CDR for a call never persisted");
            return;
        };
        metrics::counter!("callbridge_calls_ended_total", "cause" => cdr.cause.as_str())
            .increment(1);
        if let Err(error) = self.deps.store.finish_call(&call, cdr).await {
            tracing::error!(%error, call = %cdr.call_id, "could not write a CDR");
        }
    }

    async fn command(&self, platform: Platform, command: PlatformCommand) {
        let Some(adapter) = self.deps.platforms.for_platform(platform) else {
            tracing::warn!(
                platform = platform.as_str(),
                "no adapter for a call command"
            );
            self.failed(&command, CommandFailure::Rejected).await;
            return;
        };
        let kind = command_kind(&command);
        match adapter.execute(command.clone()).await {
            // A Slack leg is a browser and a card: once the card is ended there is nothing on
            // Slack's side to confirm the end, so the end is confirmed here.
            Ok(_) if platform == Platform::Slack => {
                if let PlatformCommand::HangUp { call, leg, cause } = command {
                    let ended = PlatformEvent::LegEnded { call, leg, cause };
                    self.feed(Input::Platform(ended)).await;
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, platform = platform.as_str(), kind, "call command failed");
                let failure = if error.is_retryable() {
                    CommandFailure::Unavailable
                } else {
                    CommandFailure::Rejected
                };
                self.failed(&command, failure).await;
            }
        }
    }

    /// Tells the engine a command that shapes the call failed; notices and card updates
    /// that fail change nothing about the call.
    async fn failed(&self, command: &PlatformCommand, failure: CommandFailure) {
        let (call, leg) = match command {
            PlatformCommand::PlaceCall { call, leg, .. }
            | PlatformCommand::PostCallCard { call, leg, .. }
            | PlatformCommand::AnswerCall { call, leg, .. }
            | PlatformCommand::HangUp { call, leg, .. } => (*call, *leg),
            _ => return,
        };
        self.feed(Input::CommandFailed { call, leg, failure }).await;
    }

    async fn media(&self, command: MediaCommand) {
        let media = &self.deps.media;
        let reply = match command {
            MediaCommand::PrepareOffer { call, leg } => {
                Some(match media.prepare_offer(call, leg).await {
                    Ok(offer) => MediaReply::OfferReady { call, leg, offer },
                    Err(error) => refusal(call, leg, &error),
                })
            }
            MediaCommand::AcceptOffer { call, leg, offer } => {
                Some(match media.accept_offer(call, leg, &offer).await {
                    Ok(answer) => MediaReply::AnswerReady { call, leg, answer },
                    Err(error) => refusal(call, leg, &error),
                })
            }
            MediaCommand::ApplyAnswer { call, leg, answer } => media
                .apply_answer(call, leg, &answer)
                .await
                .err()
                .map(|error| refusal(call, leg, &error)),
            MediaCommand::Bridge { call } => media.bridge(call).await.err().map(|error| {
                tracing::warn!(%error, %call, "could not bridge a call");
                MediaReply::MediaTimeout { call }
            }),
            MediaCommand::Release { call } => {
                media.release(call).await;
                None
            }
        };
        if let Some(reply) = reply {
            self.feed(Input::Media(reply)).await;
        }
    }

    async fn feed(&self, input: Input) {
        if self.deps.inputs.send(input).await.is_err() {
            tracing::error!("the call engine stopped; an outcome was lost");
        }
    }
}

fn refusal(call: CallId, leg: LegId, error: &MediaServiceError) -> MediaReply {
    match error {
        MediaServiceError::CapacityRefused => {
            metrics::counter!("callbridge_calls_refused_total", "reason" => "capacity")
                .increment(1);
            MediaReply::CapacityRefused { call }
        }
        other => {
            tracing::warn!(error = %other, %call, "media negotiation failed");
            MediaReply::NegotiationFailed { call, leg }
        }
    }
}

/// A label for logs and metrics.
const fn command_kind(command: &PlatformCommand) -> &'static str {
    match command {
        PlatformCommand::PostCallCard { .. } => "post_call_card",
        PlatformCommand::UpdateCallCard { .. } => "update_call_card",
        PlatformCommand::PlaceCall { .. } => "place_call",
        PlatformCommand::AnswerCall { .. } => "answer_call",
        PlatformCommand::AnswerReoffer { .. } => "answer_reoffer",
        PlatformCommand::HangUp { .. } => "hang_up",
        PlatformCommand::SetPresence { .. } => "set_presence",
        PlatformCommand::Reply { .. } => "reply",
        PlatformCommand::SendNotice { .. } => "send_notice",
        _ => "other",
    }
}

/// Drivers by call, created on a call's first effect.
pub(super) type Drivers = std::collections::HashMap<CallId, mpsc::UnboundedSender<Effect>>;

/// Runs a command that belongs to no call's driver (replies, notices) on its own task.
pub(super) fn run_detached(platforms: &Platforms, platform: Platform, command: PlatformCommand) {
    let Some(adapter) = platforms.for_platform(platform).map(Arc::clone) else {
        return;
    };
    tokio::spawn(async move {
        if let Err(error) = adapter.execute(command).await {
            tracing::warn!(%error, platform = platform.as_str(), "a reply or notice failed");
        }
    });
}
