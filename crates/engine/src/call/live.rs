//! What the engine holds about one call besides its phase: the parties, which leg is which,
//! and the model record it persists.

use callbridge_model::{
    Call, CallState, Direction, EventId, Leg, LegId, LegState, Notice, Platform, PlatformCommand,
    TerminationCause, UserRef,
};
use chrono::{DateTime, Utc};

use super::io::{NewCall, Output, Party};
use super::phase::Phase;

/// How the call began.
#[derive(Clone, Debug)]
pub(super) enum Origin {
    /// Someone asked callbridge (`/call`, the bot): replies go to that request.
    Request(EventId),
    /// A Teams user dialled a Slack user's number: nobody to reply to.
    Incoming,
}

/// One call in memory.
#[derive(Clone, Debug)]
pub(super) struct Live {
    /// Everything but the phase.
    pub(super) ctx: Ctx,
    /// Where the call is.
    pub(super) phase: Phase,
}

/// The parts of a call every phase shares.
#[derive(Clone, Debug)]
pub(super) struct Ctx {
    /// The call as resolved by the gateway.
    pub(super) new: NewCall,
    /// How it began.
    pub(super) origin: Origin,
    /// The record as last persisted (every handler that changes it persists it).
    pub(super) record: Call,
    /// Whether the media core holds anything for the call (it must then be released).
    pub(super) media_engaged: bool,
}

impl Ctx {
    /// A fresh call in state `Requested`, both legs `Placing`.
    pub(super) fn new(new: NewCall, origin: Origin, now: DateTime<Utc>) -> Self {
        // Direction comes from the caller's platform (the engine admits Slack/Teams pairs only).
        let direction = match new.caller.user.platform() {
            Platform::Slack => Direction::SlackToTeams,
            _ => Direction::TeamsToSlack,
        };
        let leg = |id: LegId, user: &UserRef| Leg {
            id,
            user: user.clone(),
            state: LegState::Placing,
            platform_ref: None,
        };
        let record = Call {
            id: new.call,
            tenant: new.tenant,
            direction,
            state: CallState::Requested,
            legs: vec![
                leg(new.caller_leg, &new.caller.user),
                leg(new.callee_leg, &new.callee.user),
            ],
            created_at: now,
            answered_at: None,
            ended_at: None,
            termination: None,
        };
        Self {
            new,
            origin,
            record,
            media_engaged: false,
        }
    }

    /// Whether the Slack party is the caller.
    pub(super) fn slack_calls(&self) -> bool {
        self.record.direction == Direction::SlackToTeams
    }

    /// The Slack party's (browser) leg.
    pub(super) fn browser_leg(&self) -> LegId {
        if self.slack_calls() {
            self.new.caller_leg
        } else {
            self.new.callee_leg
        }
    }

    /// The Teams party's (SIP) leg.
    pub(super) fn sip_leg(&self) -> LegId {
        if self.slack_calls() {
            self.new.callee_leg
        } else {
            self.new.caller_leg
        }
    }

    /// The Slack party.
    pub(super) fn browser_party(&self) -> &Party {
        if self.slack_calls() {
            &self.new.caller
        } else {
            &self.new.callee
        }
    }

    /// The Teams party.
    pub(super) fn sip_party(&self) -> &Party {
        if self.slack_calls() {
            &self.new.callee
        } else {
            &self.new.caller
        }
    }

    /// Whether `leg` is one of this call's legs.
    pub(super) fn has_leg(&self, leg: LegId) -> bool {
        leg == self.new.caller_leg || leg == self.new.callee_leg
    }

    /// The party on `leg` (the callee for a leg that is not the caller's).
    pub(super) fn party_on(&self, leg: LegId) -> &Party {
        if leg == self.new.caller_leg {
            &self.new.caller
        } else {
            &self.new.callee
        }
    }

    /// Sets a leg's state in the record (persisted by the caller of this helper).
    pub(super) fn set_leg_state(&mut self, leg: LegId, state: LegState) {
        for entry in &mut self.record.legs {
            if entry.id == leg {
                entry.state = state;
            }
        }
    }

    /// Persists the record as it is now.
    pub(super) fn persist(&self) -> Output {
        Output::Persist(self.record.clone())
    }

    /// A command for the platform of the user on `leg`.
    pub(super) fn on_leg(&self, leg: LegId, command: PlatformCommand) -> Output {
        command_for(&self.party_on(leg).user, command)
    }

    /// A command that tears `leg` down.
    pub(super) fn hang_up(&self, leg: LegId, cause: TerminationCause) -> Output {
        self.on_leg(
            leg,
            PlatformCommand::HangUp {
                call: self.new.call,
                leg,
                cause,
            },
        )
    }

    /// The Slack card's new state.
    pub(super) fn update_card(&self, state: LegState) -> Output {
        let leg = self.browser_leg();
        self.on_leg(
            leg,
            PlatformCommand::UpdateCallCard {
                call: self.new.call,
                leg,
                state,
            },
        )
    }

    /// A reply to the request that started the call, when there was one.
    pub(super) fn reply(&self, text: String) -> Option<Output> {
        match &self.origin {
            Origin::Request(event) => Some(command_for(
                &self.new.caller.user,
                PlatformCommand::Reply {
                    to_event: event.clone(),
                    text,
                },
            )),
            Origin::Incoming => None,
        }
    }

    /// A notice to the caller, when they asked callbridge for the call (a caller who dialled a
    /// number hears the outcome on the phone instead).
    pub(super) fn tell_caller(&self, text: String) -> Option<Output> {
        match self.origin {
            Origin::Request(_) => Some(command_for(
                &self.new.caller.user,
                PlatformCommand::SendNotice {
                    to: self.new.caller.user.clone(),
                    notice: Notice::Info { text },
                },
            )),
            Origin::Incoming => None,
        }
    }

    /// The missed-call notice (with *Call back*) for the callee.
    pub(super) fn missed_call(&self) -> Output {
        command_for(
            &self.new.callee.user,
            PlatformCommand::SendNotice {
                to: self.new.callee.user.clone(),
                notice: Notice::MissedCall {
                    caller: self.new.caller.user.clone(),
                    caller_name: self.new.caller.name.clone(),
                },
            },
        )
    }
}

/// A command for `user`'s platform.
pub(super) fn command_for(user: &UserRef, command: PlatformCommand) -> Output {
    Output::Command {
        platform: user.platform(),
        command,
    }
}
