//! Reading Slack's directory for the call driver (slack-api.md §7.7, §8): who a Slack user is
//! (`users.info`), who owns an email address (`users.lookupByEmail`), and whether a person's
//! notifications are paused right now (`dnd.info`).
//!
//! These are read methods, and Slack accepts JSON bodies only on most *write* methods: a read
//! method sent JSON drops its arguments and answers as though `user` had never been given
//! (`user_not_found` for everyone). So they go form-encoded here, through the same shared client,
//! budgets and envelope reading as every other call.
//!
//! People looked up are kept in a small bounded cache ([`PERSON_TTL`], not-found answers for
//! [`MISSING_TTL`]) on the adapter's clock, so a burst of calls resolving the same person spends
//! one call of the workspace's tier budget, not one each. DND is never cached: it is asked once
//! per call, just before ringing, and must be current.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use callbridge_adapter::client::ApiCall;
use callbridge_adapter::{AdapterError, Secret};
use callbridge_model::{Email, SlackTeamId, SlackUserId, UserRef};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::adapter::Shared;
use crate::tokens::{bot_key, user_key};
use crate::web::{self, CallError};

/// How long a person found stays cached: names and emails change rarely, and five minutes
/// covers a burst of call attempts.
pub(crate) const PERSON_TTL: Duration = Duration::minutes(5);

/// How long a "no such person" answer stays cached: shorter, so someone who just joined the
/// workspace becomes callable soon.
pub(crate) const MISSING_TTL: Duration = Duration::minutes(1);

/// At most this many cached answers; beyond it the entry closest to expiry makes room.
const CACHE_CAPACITY: usize = 10_000;

/// A Slack user as the call driver needs them. `Debug` leaves out the name and the email.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackPerson {
    /// The user, in the workspace they were looked up in.
    pub user: UserRef,
    /// Their display name, else their real name, else their user id.
    pub name: String,
    /// Their email address, when the bot may read it (`users:read.email`) and it is valid.
    pub email: Option<Email>,
    /// A bot user (an app), which cannot take a call.
    pub is_bot: bool,
    /// A deactivated account.
    pub deleted: bool,
}

impl std::fmt::Debug for SlackPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackPerson")
            .field("user", &self.user)
            .field("has_email", &self.email.is_some())
            .field("is_bot", &self.is_bot)
            .field("deleted", &self.deleted)
            .finish_non_exhaustive()
    }
}

/// `users.info` with the workspace's bot token; `None` when Slack says `user_not_found`.
pub(crate) async fn person(
    shared: &Shared,
    team: &SlackTeamId,
    user: &SlackUserId,
) -> Result<Option<SlackPerson>, AdapterError> {
    let key = Key::Id(team.clone(), user.clone());
    lookup(
        shared,
        team,
        key,
        "users.info",
        "user",
        user.as_str(),
        "user_not_found",
    )
    .await
}

/// `users.lookupByEmail` with the workspace's bot token; `None` on `users_not_found` (plural,
/// §15 item 7).
pub(crate) async fn person_by_email(
    shared: &Shared,
    team: &SlackTeamId,
    email: &Email,
) -> Result<Option<SlackPerson>, AdapterError> {
    let key = Key::Email(team.clone(), email.clone());
    lookup(
        shared,
        team,
        key,
        "users.lookupByEmail",
        "email",
        email.as_str(),
        "users_not_found",
    )
    .await
}

/// Whether `user`'s notifications are paused now (`dnd.info`): a scheduled DND window they are
/// inside, or a snooze. Slack shows the snooze only to the person's own token (§7.7), so their
/// token is used when they granted one; otherwise the bot's, which sees the schedule alone and
/// needs `dnd:read` among the bot scopes.
pub(crate) async fn in_dnd(
    shared: &Shared,
    team: &SlackTeamId,
    user: &SlackUserId,
) -> Result<bool, AdapterError> {
    let answer = read(
        shared,
        "dnd.info",
        team,
        As::OwnElseBot(user),
        &[("user", user.as_str())],
    )
    .await?;
    Ok(paused(&answer, shared.tokens.now().timestamp()))
}

/// One cached person lookup: the cache, else the method, whose `not_found` error means `None`.
async fn lookup(
    shared: &Shared,
    team: &SlackTeamId,
    key: Key,
    method: &'static str,
    arg: &'static str,
    value: &str,
    not_found: &str,
) -> Result<Option<SlackPerson>, AdapterError> {
    let now = shared.tokens.now();
    if let Some(cached) = shared.people.get(&key, now) {
        metrics::counter!("callbridge_slack_directory_lookups_total", "method" => method, "source" => "cache")
            .increment(1);
        return Ok(cached);
    }
    metrics::counter!("callbridge_slack_directory_lookups_total", "method" => method, "source" => "slack")
        .increment(1);
    let answer = match read(shared, method, team, As::Bot, &[(arg, value)]).await {
        Ok(answer) => answer,
        Err(AdapterError::PlatformRejected { error, .. }) if error == not_found => {
            shared.people.put(key, None, now);
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let person = parse_person(method, team, &answer)?;
    shared.people.remember(&person, now);
    // Asked by an address Slack stores differently (case, an alias): cache the question too.
    shared.people.put(key, Some(person.clone()), now);
    Ok(Some(person))
}

/// Whose token a read uses.
#[derive(Clone, Copy)]
enum As<'a> {
    /// The workspace's bot token.
    Bot,
    /// The person's own user token if they granted one, else the bot token.
    OwnElseBot(&'a SlackUserId),
}

/// A read method, form-encoded; a `token_expired` answer forces one refresh and one more try.
async fn read(
    shared: &Shared,
    method: &'static str,
    team: &SlackTeamId,
    who: As<'_>,
    args: &[(&str, &str)],
) -> Result<Value, AdapterError> {
    let team = team.as_str();
    for attempt in 0..2 {
        let own = match who {
            As::OwnElseBot(user) => shared
                .tokens
                .user(team, user.as_str())
                .await?
                .map(|token| (token, user_key(team, user.as_str()))),
            As::Bot => None,
        };
        let (token, key) = match own {
            Some(own) => own,
            None => (shared.tokens.bot(team).await?, bot_key(team)),
        };
        match send_form(shared, method, team, &token, args).await {
            Ok(answer) => return Ok(answer),
            Err(CallError::TokenExpired) if attempt == 0 => shared.tokens.invalidate(&key),
            Err(CallError::TokenExpired) => break,
            Err(CallError::Other(error)) => return Err(error),
        }
    }
    Err(AdapterError::ReconnectRequired {
        installation: team.to_owned(),
    })
}

/// Sends one method with a form body and returns the success envelope. Reads are idempotent,
/// so the shared client may resend them after a 5xx or a dropped connection.
async fn send_form(
    shared: &Shared,
    method: &'static str,
    team: &str,
    token: &Secret,
    args: &[(&str, &str)],
) -> Result<Value, CallError> {
    let call = ApiCall {
        method,
        budget_key: team,
        idempotent: true,
    };
    web::call_form(&shared.api, &shared.config, call, token, args).await
}

/// The `user` object of a `users.info` / `users.lookupByEmail` answer (§8.3). Error texts name
/// what was missing, never a value from the answer.
fn parse_person(
    method: &str,
    team: &SlackTeamId,
    answer: &Value,
) -> Result<SlackPerson, AdapterError> {
    let misbehaved = |detail: &str| AdapterError::PlatformMisbehaved {
        method: method.to_owned(),
        detail: detail.to_owned(),
    };
    let user = answer
        .get("user")
        .filter(|u| u.is_object())
        .ok_or_else(|| misbehaved("answer without a user object"))?;
    let id: SlackUserId = user
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| misbehaved("user without a valid id"))?;
    let profile = user.get("profile");
    let name = text(profile, "display_name")
        .or_else(|| text(profile, "real_name"))
        .or_else(|| text(Some(user), "real_name"))
        .unwrap_or(id.as_str())
        .to_owned();
    // An address Slack holds that is not one by our rules is as good as none for matching.
    let email = text(profile, "email").and_then(|e| Email::parse_lenient(e).ok());
    let flag = |field: &str| user.get(field).and_then(Value::as_bool).unwrap_or(false);
    Ok(SlackPerson {
        user: UserRef::Slack {
            team: team.clone(),
            user: id,
        },
        name,
        email,
        is_bot: flag("is_bot"),
        deleted: flag("deleted"),
    })
}

/// A text field of `object`, trimmed; `None` when absent or blank.
fn text<'a>(object: Option<&'a Value>, field: &str) -> Option<&'a str> {
    object
        .and_then(|o| o.get(field))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Reads a `dnd.info` answer at `now` (Unix seconds): inside an enabled scheduled window, or
/// snoozing (and the snooze, when its end is given, not yet over).
fn paused(answer: &Value, now: i64) -> bool {
    let flag = |field: &str| answer.get(field).and_then(Value::as_bool).unwrap_or(false);
    let time = |field: &str| answer.get(field).and_then(Value::as_i64);
    let scheduled = flag("dnd_enabled")
        && matches!(
            (time("next_dnd_start_ts"), time("next_dnd_end_ts")),
            (Some(start), Some(end)) if start <= now && now < end
        );
    let snoozed = flag("snooze_enabled") && time("snooze_endtime").is_none_or(|end| end > now);
    scheduled || snoozed
}

/// What a cached answer was asked by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Id(SlackTeamId, SlackUserId),
    Email(SlackTeamId, Email),
}

#[derive(Clone)]
struct Entry {
    person: Option<SlackPerson>,
    expires: DateTime<Utc>,
}

/// The bounded, expiring cache of person lookups. Never reads the clock: callers pass `now`.
pub(crate) struct People {
    entries: Mutex<HashMap<Key, Entry>>,
    capacity: usize,
}

impl Default for People {
    fn default() -> Self {
        Self::with_capacity(CACHE_CAPACITY)
    }
}

impl std::fmt::Debug for People {
    // Entries are personal data: show how many, nothing else.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("People")
            .field("entries", &entries)
            .finish_non_exhaustive()
    }
}

impl People {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The cached answer for `key` if it has not expired: `Some(None)` is a cached "not found".
    fn get(&self, key: &Key, now: DateTime<Utc>) -> Option<Option<SlackPerson>> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .filter(|entry| entry.expires > now)
            .map(|entry| entry.person.clone())
    }

    /// Caches an answer from `now`; when full, expired entries go first, then the one closest
    /// to expiry.
    fn put(&self, key: Key, person: Option<SlackPerson>, now: DateTime<Utc>) {
        let ttl = if person.is_some() {
            PERSON_TTL
        } else {
            MISSING_TTL
        };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !entries.contains_key(&key) && entries.len() >= self.capacity {
            entries.retain(|_, entry| entry.expires > now);
            if entries.len() >= self.capacity
                && let Some(soonest) = entries
                    .iter()
                    .min_by_key(|(_, entry)| entry.expires)
                    .map(|(key, _)| key.clone())
            {
                entries.remove(&soonest);
            }
        }
        entries.insert(
            key,
            Entry {
                person,
                expires: now + ttl,
            },
        );
    }

    /// Caches a person found under every key it answers: its id, and its email if known.
    fn remember(&self, person: &SlackPerson, now: DateTime<Utc>) {
        let UserRef::Slack { team, user } = &person.user else {
            return;
        };
        self.put(
            Key::Id(team.clone(), user.clone()),
            Some(person.clone()),
            now,
        );
        if let Some(email) = &person.email {
            self.put(
                Key::Email(team.clone(), email.clone()),
                Some(person.clone()),
                now,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn team() -> SlackTeamId {
        "T0TEAM".parse().unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn someone(id: &str, email: Option<&str>) -> SlackPerson {
        SlackPerson {
            user: UserRef::Slack {
                team: team(),
                user: id.parse().unwrap(),
            },
            name: id.to_owned(),
            email: email.map(|e| e.parse().unwrap()),
            is_bot: false,
            deleted: false,
        }
    }

    fn by_id(id: &str) -> Key {
        Key::Id(team(), id.parse().unwrap())
    }

    #[test]
    fn names_prefer_display_then_real_then_id() {
        let parse = |user: Value| parse_person("users.info", &team(), &json!({ "user": user }));
        let shown = parse(json!({"id": "U001", "real_name": "Top Real",
            "profile": {"display_name": "Shown", "real_name": "Real"}}))
        .unwrap();
        assert_eq!(shown.name, "Shown");
        let real = parse(json!({"id": "U001", "real_name": "Top Real",
            "profile": {"display_name": "  ", "real_name": "Real"}}))
        .unwrap();
        assert_eq!(real.name, "Real");
        let top = parse(json!({"id": "U001", "real_name": "Top Real", "profile": {}})).unwrap();
        assert_eq!(top.name, "Top Real");
        let bare = parse(json!({"id": "U001", "profile": {"display_name": ""}})).unwrap();
        assert_eq!(bare.name, "U001");
    }

    #[test]
    fn a_person_carries_flags_and_a_checked_email() {
        let parse = |user: Value| parse_person("users.info", &team(), &json!({ "user": user }));
        let person = parse(json!({"id": "U001", "deleted": true, "is_bot": true,
            "profile": {"email": "Ann@Example.COM"}}))
        .unwrap();
        assert!(person.deleted && person.is_bot);
        assert_eq!(person.email.unwrap().as_str(), "ann@example.com");
        let odd = parse(json!({"id": "U001", "profile": {"email": "not an address"}})).unwrap();
        assert_eq!(odd.email, None);
        assert!(!odd.deleted && !odd.is_bot);
    }

    #[test]
    fn malformed_answers_misbehave_without_echoing_values() {
        let error =
            parse_person("users.info", &team(), &json!({"user": {"id": "ann@x.io"}})).unwrap_err();
        assert!(matches!(error, AdapterError::PlatformMisbehaved { .. }));
        assert!(!error.to_string().contains("ann"), "{error}");
        assert!(parse_person("users.info", &team(), &json!({"ok": true})).is_err());
    }

    #[test]
    fn debug_hides_name_and_email() {
        let mut person = someone("U001", Some("ann@example.com"));
        person.name = "Ann Secret".to_owned();
        let shown = format!("{person:?}");
        assert!(!shown.contains("Ann") && !shown.contains("ann@"), "{shown}");
    }

    #[test]
    fn dnd_is_a_scheduled_window_or_a_snooze() {
        let now = 1_000;
        let window = |enabled, start, end| json!({"dnd_enabled": enabled, "next_dnd_start_ts": start, "next_dnd_end_ts": end});
        assert!(paused(&window(true, 900, 1_100), now));
        assert!(!paused(&window(false, 900, 1_100), now), "schedule off");
        assert!(!paused(&window(true, 1_100, 1_200), now), "window ahead");
        assert!(!paused(&window(true, 800, 1_000), now), "window over");
        assert!(paused(
            &json!({"snooze_enabled": true, "snooze_endtime": 1_001}),
            now
        ));
        assert!(paused(&json!({"snooze_enabled": true}), now));
        assert!(!paused(
            &json!({"snooze_enabled": true, "snooze_endtime": 1_000}),
            now
        ));
        assert!(!paused(&json!({"snooze_enabled": false}), now));
        assert!(!paused(&json!({}), now));
    }

    #[test]
    fn cached_people_expire_after_their_ttl() {
        let people = People::default();
        people.put(by_id("U001"), Some(someone("U001", None)), at(0));
        people.put(by_id("U002"), None, at(0));
        let almost = at(PERSON_TTL.num_seconds() - 1);
        assert_eq!(
            people.get(&by_id("U001"), almost),
            Some(Some(someone("U001", None)))
        );
        assert_eq!(
            people.get(&by_id("U001"), at(PERSON_TTL.num_seconds())),
            None
        );
        assert_eq!(
            people.get(&by_id("U002"), at(MISSING_TTL.num_seconds() - 1)),
            Some(None)
        );
        assert_eq!(
            people.get(&by_id("U002"), at(MISSING_TTL.num_seconds())),
            None
        );
        assert_eq!(people.get(&by_id("U003"), at(0)), None);
    }

    #[test]
    fn a_person_is_remembered_by_id_and_email() {
        let people = People::default();
        let ann = someone("U001", Some("ann@example.com"));
        people.remember(&ann, at(0));
        let email = Key::Email(team(), "ann@example.com".parse().unwrap());
        assert_eq!(people.get(&email, at(1)), Some(Some(ann.clone())));
        assert_eq!(people.get(&by_id("U001"), at(1)), Some(Some(ann)));
    }

    #[test]
    fn the_cache_stays_bounded_dropping_expired_then_soonest() {
        let people = People::with_capacity(2);
        people.put(by_id("U001"), None, at(0));
        people.put(by_id("U002"), Some(someone("U002", None)), at(0));
        // Full: U1 (expiring first) makes room.
        people.put(by_id("U003"), Some(someone("U003", None)), at(1));
        assert_eq!(people.get(&by_id("U001"), at(2)), None);
        assert!(people.get(&by_id("U002"), at(2)).is_some());
        assert!(people.get(&by_id("U003"), at(2)).is_some());
        // Replacing a cached key never evicts another.
        people.put(by_id("U003"), None, at(3));
        assert!(people.get(&by_id("U002"), at(3)).is_some());
        // Past U2's expiry, expired entries go before live ones.
        let later = at(PERSON_TTL.num_seconds() + 1);
        people.put(by_id("U004"), None, later);
        people.put(by_id("U005"), None, later);
        assert!(people.get(&by_id("U004"), later).is_some());
        assert!(people.get(&by_id("U005"), later).is_some());
        assert_eq!(people.entries.lock().unwrap().len(), 2);
    }
}
