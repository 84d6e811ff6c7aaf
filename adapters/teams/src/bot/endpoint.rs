//! The bot as the adapter uses it: one call for the `/messages` route (verify, translate,
//! remember the conversation, answer help and usage errors, hand the events on) and one for
//! the commands that end up in a Teams chat (replies, notices, ringing cards and their
//! updates).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use callbridge_adapter::{AdapterError, CommandOutcome, Inbound, InboundReply, InboundRequest};
use callbridge_model::{CallId, EventId, LegId, LegState, Notice, PlatformCommand, UserRef};
use chrono::{DateTime, Utc};
use http::StatusCode;

use super::cards::{self, AdaptiveCard};
use super::client::BotClient;
use super::references::{ConversationBook, ConversationReference};
use super::translate::{BotInbound, translate_activity};
use super::verify::BotVerifier;

/// How many recent requests are kept so `PlatformCommand::Reply` can answer them.
const RECENT_REQUESTS: usize = 1024;

/// A request the engine may answer with `Reply`: where it was made and its activity id.
type Recent = (EventId, ConversationReference, Option<String>);

/// A ringing card posted for a leg: where, its activity id, and its title.
type Posted = (ConversationReference, String, String);

/// The Teams bot.
pub struct Bot {
    verifier: BotVerifier,
    client: BotClient,
    conversations: ConversationBook,
    recent: Mutex<VecDeque<Recent>>,
    ringing: Mutex<HashMap<(CallId, LegId), Posted>>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("verifier", &self.verifier)
            .field("reachable_users", &self.conversations.len())
            .finish_non_exhaustive()
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Bot {
    /// A bot from its verifier and connector client.
    pub fn new(verifier: BotVerifier, client: BotClient) -> Self {
        Self {
            verifier,
            client,
            conversations: ConversationBook::default(),
            recent: Mutex::new(VecDeque::new()),
            ringing: Mutex::new(HashMap::new()),
        }
    }

    /// The users the bot can write to; the host persists them with `export`/`import`.
    pub const fn conversations(&self) -> &ConversationBook {
        &self.conversations
    }

    /// The connector client.
    pub const fn client(&self) -> &BotClient {
        &self.client
    }

    /// Handles a POST to the messaging endpoint. Authentication fails before the body is
    /// read; help and usage errors are answered in the chat here; call requests and declines
    /// become events. Card actions (`invoke`) are answered in the HTTP reply with a
    /// replacement card, as Teams requires (§5.4).
    pub async fn handle(&self, request: &InboundRequest) -> Result<Inbound, AdapterError> {
        let activity = self
            .verifier
            .verify(&request.headers, &request.body, request.received_at)
            .await?;
        let inbound = translate_activity(&activity);
        let now = request.received_at;
        if let Some(reference) = inbound.reference() {
            self.conversations.remember(reference.clone());
        }
        let reply = match &inbound {
            BotInbound::Call {
                event,
                reference,
                invoke,
            } => {
                if let (Some(id), Some(reference)) = (event.event_id(), reference) {
                    self.remember_request(id.clone(), reference.clone(), activity.id.clone());
                }
                let card = cards::info("Calling…");
                self.answer(
                    *invoke,
                    reference.as_ref(),
                    activity.id.as_deref(),
                    &card,
                    false,
                    now,
                )
                .await
            }
            BotInbound::Declined {
                invoke, reference, ..
            } => {
                let card = cards::info("Declined.");
                self.answer(
                    *invoke,
                    reference.as_ref(),
                    activity.id.as_deref(),
                    &card,
                    false,
                    now,
                )
                .await
            }
            BotInbound::Help { reference } => {
                let card = cards::help();
                self.answer(
                    false,
                    reference.as_ref(),
                    activity.id.as_deref(),
                    &card,
                    true,
                    now,
                )
                .await
            }
            BotInbound::Invalid {
                reference,
                text,
                invoke,
            } => {
                let card = cards::error(text);
                self.answer(
                    *invoke,
                    reference.as_ref(),
                    activity.id.as_deref(),
                    &card,
                    true,
                    now,
                )
                .await
            }
            BotInbound::Installed { reference } => {
                let welcome = cards::info(
                    "callbridge is ready. Type `call name@company.com` to call a Slack colleague, or `help`.",
                );
                self.deliver(reference, None, &welcome, now).await;
                InboundReply::ok()
            }
            BotInbound::Uninstalled { aad_object_id } => {
                self.conversations.forget(aad_object_id);
                InboundReply::ok()
            }
            BotInbound::Ignored { .. } => InboundReply::ok(),
        };
        Ok(Inbound {
            reply,
            events: inbound.events(),
        })
    }

    /// For an invoke: `card` replaces the pressed one, in the HTTP answer. For a message:
    /// `card` is sent into the chat if `say_it` (a call request is acknowledged by the
    /// engine's own outcome, not by a chat line).
    async fn answer(
        &self,
        invoke: bool,
        reference: Option<&ConversationReference>,
        reply_to: Option<&str>,
        card: &AdaptiveCard,
        say_it: bool,
        now: DateTime<Utc>,
    ) -> InboundReply {
        if invoke {
            return InboundReply::json(StatusCode::OK, card.invoke_response().to_string());
        }
        if let (true, Some(reference)) = (say_it, reference) {
            self.deliver(reference, reply_to, card, now).await;
        }
        InboundReply::ok()
    }

    /// Sends, logging and counting a failure instead of failing the inbound request: the
    /// activity was received and must not be redelivered for a reply that did not go out.
    async fn deliver(
        &self,
        to: &ConversationReference,
        reply_to: Option<&str>,
        card: &AdaptiveCard,
        now: DateTime<Utc>,
    ) {
        let sent = match reply_to {
            Some(parent) => self.client.reply_card(to, parent, card, now).await,
            None => self.client.send_card(to, card, now).await,
        };
        if let Err(error) = sent {
            metrics::counter!("callbridge_teams_bot_reply_failed_total", "reason" => error.label())
                .increment(1);
            tracing::warn!(%error, "bot reply not delivered");
        }
    }

    fn remember_request(
        &self,
        id: EventId,
        reference: ConversationReference,
        activity: Option<String>,
    ) {
        let mut recent = locked(&self.recent);
        if recent.len() == RECENT_REQUESTS {
            recent.pop_front();
        }
        recent.push_back((id, reference, activity));
    }

    fn reference_for(&self, user: &UserRef) -> Result<ConversationReference, AdapterError> {
        let UserRef::Teams { user, .. } = user else {
            return Err(AdapterError::Bug(
                "a Slack user sent to the Teams bot".to_owned(),
            ));
        };
        self.conversations
            .get(&user.to_string())
            .ok_or_else(|| AdapterError::PlatformRejected {
                method: "bot.send".to_owned(),
                error: "user has no conversation with the bot (app not installed)".to_owned(),
            })
    }

    /// Executes a command that lands in a Teams chat: `Reply` to a bot request,
    /// `SendNotice`, `PostCallCard` (a ringing card) and `UpdateCallCard` for cards posted
    /// here. `None` when the command is not the bot's.
    pub async fn execute(
        &self,
        command: &PlatformCommand,
        now: DateTime<Utc>,
    ) -> Option<Result<CommandOutcome, AdapterError>> {
        Some(match command {
            PlatformCommand::Reply { to_event, text } => {
                let found = locked(&self.recent)
                    .iter()
                    .rev()
                    .find(|(id, _, _)| id == to_event)
                    .map(|(_, reference, activity)| (reference.clone(), activity.clone()));
                let (reference, activity) = found?;
                let card = cards::info(text);
                match activity {
                    Some(parent) => {
                        self.client
                            .reply_card(&reference, &parent, &card, now)
                            .await
                    }
                    None => self.client.send_card(&reference, &card, now).await,
                }
                .map(CommandOutcome::with_ref)
            }
            PlatformCommand::SendNotice { to, notice } => {
                if !matches!(to, UserRef::Teams { .. }) {
                    return None;
                }
                let card = match notice {
                    Notice::MissedCall {
                        caller,
                        caller_name,
                    } => cards::missed_call(caller_name, caller),
                    Notice::Info { text } => cards::info(text),
                    _ => {
                        return Some(Err(AdapterError::Bug(
                            "notice kind unknown to the Teams bot".to_owned(),
                        )));
                    }
                };
                match self.reference_for(to) {
                    Ok(reference) => self
                        .client
                        .send_card(&reference, &card, now)
                        .await
                        .map(CommandOutcome::with_ref),
                    Err(error) => Err(error),
                }
            }
            PlatformCommand::PostCallCard {
                call,
                leg,
                to,
                join_url,
                title,
            } => {
                if !matches!(to, UserRef::Teams { .. }) {
                    return None;
                }
                let card = cards::ringing(title, join_url, *call, *leg);
                match self.reference_for(to) {
                    Ok(reference) => match self.client.send_card(&reference, &card, now).await {
                        Ok(id) => {
                            locked(&self.ringing)
                                .insert((*call, *leg), (reference, id.clone(), title.clone()));
                            Ok(CommandOutcome::with_ref(id))
                        }
                        Err(error) => Err(error),
                    },
                    Err(error) => Err(error),
                }
            }
            PlatformCommand::UpdateCallCard { call, leg, state } => {
                let posted = {
                    let mut ringing = locked(&self.ringing);
                    if *state == LegState::Ended {
                        ringing.remove(&(*call, *leg))
                    } else {
                        ringing.get(&(*call, *leg)).cloned()
                    }
                };
                let (reference, id, title) = posted?;
                self.client
                    .update_card(&reference, &id, &cards::call_state(&title, *state), now)
                    .await
                    .map(|()| CommandOutcome::with_ref(id))
            }
            _ => return None,
        })
    }
}
