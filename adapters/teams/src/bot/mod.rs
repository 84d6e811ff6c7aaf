//! The Teams bot (reference `teams-graph.md` §5): the Bot Framework side of callbridge, through
//! which a Teams user asks for a call and receives ringing cards, missed-call notices with
//! *Call back*, and error notes.
//!
//! The pieces, usable alone or together through [`Bot`]:
//!
//! - [`BotVerifier`] authenticates an inbound activity before its body is trusted: the
//!   `Authorization: Bearer` JWT must be RS256 (RS384/RS512 admitted) under a key from the
//!   Bot Framework's OpenID metadata/JWKS, `iss` = `https://api.botframework.com`, `aud` = the
//!   bot's app id, `exp`/`nbf` within 5 minutes of skew of the request's arrival, the key
//!   endorsed for the activity's `channelId`, and the `serviceurl` claim equal to the
//!   activity's `serviceUrl`. Keys are cached; an unknown `kid` refetches them at most once
//!   per interval (5 minutes by default). Every failure is `AdapterError::Unauthenticated`.
//! - [`translate_activity`] turns a verified [`Activity`] into a [`BotInbound`]: `call @name`
//!   (a mention entity), `call name@company.com`, `call +E164` and *Call back* become
//!   `PlatformEvent::CallRequested` with the activity id as event id; *Decline* on a ringing
//!   card becomes `LegEnded { cause: Declined }`; installs and uninstalls
//!   (`conversationUpdate`) keep or forget the user's conversation; `help` and unusable
//!   input get an answer; anything else is ignored and counted.
//! - [`BotClient`] writes through the Bot Connector REST API (sends, replies, card updates,
//!   new personal conversations) with a client-credentials token for
//!   `https://api.botframework.com/.default`, inside Teams' per-conversation reply limits.
//! - [`cards`] builds the Adaptive Cards: ringing (Join / Decline), missed call (Call back),
//!   info and error.
//! - [`ConversationBook`] keeps each user's [`ConversationReference`] for proactive messages,
//!   **in memory**: persisting it is the host's job (`export` / `import`).
//!
//! [`Bot::handle`] is what the adapter calls for `POST /messages`; [`Bot::execute`] takes the
//! commands that land in a Teams chat.

mod activity;
pub mod cards;
mod client;
mod endpoint;
mod keys;
mod references;
mod token;
mod translate;
mod verify;

pub use activity::{Activity, ChannelAccount, ConversationAccount};
pub use cards::AdaptiveCard;
pub use client::{BotClient, BotClientConfig};
pub use endpoint::Bot;
pub use references::{ConversationBook, ConversationReference};
pub use token::BOT_SCOPE;
pub use translate::{BotInbound, translate_activity};
pub use verify::{
    BOT_FRAMEWORK_ISSUER, BOT_FRAMEWORK_OPENID_METADATA, BotVerifier, BotVerifierConfig,
};
