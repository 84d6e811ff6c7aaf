//! Writing mirrored presence into Slack (slack-api.md §0.4, §7): a custom status through
//! `users.profile.set`, a DND snooze, manual away; each with the person's own user token.
//!
//! **How the ownership fingerprint rides along.** Slack's status fields have no room for
//! metadata: `status_text` is shown verbatim, limited to 100 characters and documented as
//! free of markup (§7.4), and whether invisible characters survive Slack's normalisation is
//! not documented anywhere. So the fingerprint is not written into Slack at all: the adapter
//! remembers, per workspace and person, the last value it wrote with its fingerprint, and an
//! incoming `user_change` whose status equals that value exactly is callbridge's echo (origin
//! `callbridge`, with the fingerprint). A status a person types by hand differs from it, so it
//! is never taken for ours; the entry is replaced by each write and bounded in number. The
//! memory is per process: after a restart, a value callbridge wrote earlier is reported as
//! set by the person, which errs on the side the design requires (a hand-set status is never
//! overwritten).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use callbridge_adapter::{AdapterError, CommandOutcome};
use callbridge_model::{Availability, OwnershipFingerprint, Presence, UserRef};
use serde_json::{Value, json};

use crate::adapter::Shared;

/// People whose last write is remembered, at most.
const CAPACITY: usize = 100_000;

/// A status as Slack reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Observed {
    pub(crate) text: String,
    pub(crate) emoji: String,
    pub(crate) expiration: i64,
}

#[derive(Clone, Debug, Default)]
struct Written {
    status: Option<Observed>,
    fingerprint: Option<OwnershipFingerprint>,
    snoozing: bool,
    away: bool,
}

/// A person: workspace id and user id.
type Person = (String, String);

/// What callbridge last wrote for each person, keyed by workspace and user.
#[derive(Debug, Default)]
pub(crate) struct StatusMemory {
    inner: Mutex<(HashMap<Person, Written>, VecDeque<Person>)>,
}

impl StatusMemory {
    fn update(&self, team: &str, user: &str, f: impl FnOnce(&mut Written)) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (map, order) = &mut *guard;
        let key = (team.to_owned(), user.to_owned());
        if !map.contains_key(&key) {
            if order.len() >= CAPACITY
                && let Some(old) = order.pop_front()
            {
                map.remove(&old);
            }
            order.push_back(key.clone());
        }
        f(map.entry(key).or_default());
    }

    /// Puts back what was remembered before a write that failed, so a write that never
    /// happened is never taken for callbridge's.
    fn restore(&self, team: &str, user: &str, previous: Written) {
        self.update(team, user, |w| *w = previous);
    }

    fn get(&self, team: &str, user: &str) -> Written {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .get(&(team.to_owned(), user.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// The fingerprint of callbridge's write when `observed` is exactly it.
    pub(crate) fn recognise(
        &self,
        team: &str,
        user: &str,
        observed: &Observed,
    ) -> Option<OwnershipFingerprint> {
        let written = self.get(team, user);
        (written.status.as_ref() == Some(observed))
            .then_some(written.fingerprint)
            .flatten()
    }

    /// The fingerprint when a DND change matches what callbridge last did to the snooze.
    pub(crate) fn recognise_dnd(
        &self,
        team: &str,
        user: &str,
        snoozing: bool,
    ) -> Option<OwnershipFingerprint> {
        let written = self.get(team, user);
        (written.fingerprint.is_some() && written.snoozing == snoozing)
            .then_some(written.fingerprint)
            .flatten()
    }
}

/// A fingerprint derived from the value itself when the engine sent none.
fn derived_fingerprint(observed: &Observed) -> Result<OwnershipFingerprint, AdapterError> {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!(
            "{}\u{0}{}\u{0}{}",
            observed.text, observed.emoji, observed.expiration
        )
        .as_bytes(),
    );
    OwnershipFingerprint::parse(&format!("cb1:{}", hex::encode(&digest.as_ref()[..8])))
        .map_err(|_| AdapterError::Bug("derived fingerprint malformed".to_owned()))
}

fn is_in_call(presence: &Presence) -> bool {
    presence
        .activity
        .as_ref()
        .is_some_and(|a| a.as_str() == "InACall")
}

/// The status line and emoji shown for a mirrored state; `None` means no status of ours.
fn status_for(presence: &Presence) -> Option<(String, String)> {
    let default = match presence.availability {
        Availability::Busy | Availability::BusyIdle if is_in_call(presence) => {
            ("In a call on Teams", ":telephone_receiver:")
        }
        Availability::Busy | Availability::BusyIdle => ("Busy on Teams", ":red_circle:"),
        Availability::DoNotDisturb => ("Do not disturb on Teams", ":no_bell:"),
        // Away shows as Slack's own away dot (below), so it needs no status line; fewer writes
        // also keep within the 10-per-minute profile limit (§0.4).
        _ => return None,
    };
    Some((
        presence
            .status_text
            .as_ref()
            .map_or(default.0, |t| t.as_str())
            .to_owned(),
        presence
            .status_emoji
            .clone()
            .unwrap_or_else(|| default.1.to_owned()),
    ))
}

/// The status Slack shows `user` now (`users.profile.get`, their token).
async fn shown_status(
    shared: &Shared,
    team: &str,
    user: &str,
    owner: &str,
) -> Result<Observed, AdapterError> {
    let current = shared
        .user_call("users.profile.get", team, user, owner, true, &json!({}))
        .await?;
    let profile = current.get("profile").cloned().unwrap_or(Value::Null);
    let text = |key: &str| {
        profile
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Observed {
        text: text("status_text"),
        emoji: text("status_emoji"),
        expiration: profile
            .get("status_expiration")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    })
}

/// Whether Slack shows `user` a status that someone set by hand: one that is neither empty
/// nor the last one callbridge wrote. Never overwritten (DESIGN.md §3).
async fn hand_set(
    shared: &Shared,
    team: &str,
    user: &str,
    owner: &str,
    ours: Option<&Observed>,
) -> Result<bool, AdapterError> {
    let shown = match shown_status(shared, team, user, owner).await {
        Ok(shown) => shown,
        // A token without `users.profile:read` (granted before callbridge asked for it):
        // the mirror's own knowledge decides, as it did before this check.
        Err(AdapterError::PlatformRejected { .. }) => return Ok(false),
        Err(error) => return Err(error),
    };
    let empty = shown.text.is_empty() && shown.emoji.is_empty();
    let same_as_ours =
        ours.is_some_and(|ours| ours.text == shown.text && ours.emoji == shown.emoji);
    Ok(!empty && !same_as_ours)
}

/// `SetPresence`.
pub(crate) async fn set_presence(
    shared: &Shared,
    user: &UserRef,
    presence: &Presence,
) -> Result<CommandOutcome, AdapterError> {
    let UserRef::Slack { team, user } = user else {
        return Err(AdapterError::Bug(
            "SetPresence for a non-Slack user sent to Slack".to_owned(),
        ));
    };
    let (team, user) = (team.as_str(), user.as_str());
    let owner = format!("{team}:{user}");
    let written = shared.status.get(team, user);
    let (had_snooze, had_away) = (written.snoozing, written.away);
    let now = shared.tokens.now();

    // Custom status (§7.4, §7.6).
    let target = status_for(presence).map(|(text, emoji)| Observed {
        text,
        emoji,
        expiration: presence.expires_at.map_or(0, |t| t.timestamp()),
    });
    let mut fingerprint = None;
    match &target {
        Some(observed)
            if !hand_set(shared, team, user, &owner, written.status.as_ref()).await? =>
        {
            let print = match &presence.source.fingerprint {
                Some(print) => print.clone(),
                None => derived_fingerprint(observed)?,
            };
            // Remembered before the write: the echo may arrive before the answer.
            shared.status.update(team, user, |w| {
                w.status = Some(observed.clone());
                w.fingerprint = Some(print.clone());
            });
            let profile = json!({"status_text": observed.text, "status_emoji": observed.emoji, "status_expiration": observed.expiration});
            if let Err(error) = shared
                .user_call(
                    "users.profile.set",
                    team,
                    user,
                    &owner,
                    true,
                    &json!({ "profile": profile }),
                )
                .await
            {
                shared.status.restore(team, user, written);
                return Err(error);
            }
            fingerprint = Some(print);
        }
        Some(_) => {
            // Status events may arrive in any order, so the mirror can think a status is ours
            // that the person has since set by hand: what Slack shows decides.
            metrics::counter!("callbridge_slack_status_kept_total").increment(1);
            tracing::info!("a status set by hand is kept");
        }
        None => {
            // Clear only a status that is still ours: read it back first (§7.5).
            if let Some(ours) = written
                .status
                .clone()
                .filter(|s| !s.text.is_empty() || !s.emoji.is_empty())
            {
                let shown = shown_status(shared, team, user, &owner).await?;
                if shown == ours {
                    let cleared = Observed {
                        text: String::new(),
                        emoji: String::new(),
                        expiration: 0,
                    };
                    let print = match &presence.source.fingerprint {
                        Some(print) => print.clone(),
                        None => derived_fingerprint(&cleared)?,
                    };
                    shared.status.update(team, user, |w| {
                        w.status = Some(cleared.clone());
                        w.fingerprint = Some(print.clone());
                    });
                    let profile =
                        json!({"status_text": "", "status_emoji": "", "status_expiration": 0});
                    if let Err(error) = shared
                        .user_call(
                            "users.profile.set",
                            team,
                            user,
                            &owner,
                            true,
                            &json!({ "profile": profile }),
                        )
                        .await
                    {
                        shared.status.restore(team, user, written);
                        return Err(error);
                    }
                    fingerprint = Some(print);
                }
            }
        }
    }

    // DND snooze (§7.7): while Teams says Do not disturb; ended only if callbridge started it.
    let want_snooze = presence.availability == Availability::DoNotDisturb;
    if want_snooze {
        let minutes = presence
            .expires_at
            .map_or(60, |t| ((t - now).num_seconds() + 59) / 60)
            .clamp(1, 1440);
        shared.status.update(team, user, |w| {
            w.snoozing = true;
            if w.fingerprint.is_none() {
                w.fingerprint = fingerprint.clone();
            }
        });
        if let Err(error) = shared
            .user_call(
                "dnd.setSnooze",
                team,
                user,
                &owner,
                true,
                &json!({ "num_minutes": minutes }),
            )
            .await
        {
            shared
                .status
                .update(team, user, |w| w.snoozing = had_snooze);
            return Err(error);
        }
    } else if had_snooze {
        shared.status.update(team, user, |w| w.snoozing = false);
        match shared
            .user_call("dnd.endSnooze", team, user, &owner, true, &json!({}))
            .await
        {
            Ok(_) => {}
            // Already over (the person ended it, or it ran out): nothing to undo.
            Err(AdapterError::PlatformRejected { error, .. }) if error == "snooze_end_failed" => {}
            Err(error) => return Err(error),
        }
    }

    // Manual away (§7.3): Slack cannot be forced active, so leaving away means `auto`, and only
    // when callbridge set the away.
    let want_away = matches!(
        presence.availability,
        Availability::Away | Availability::BeRightBack | Availability::Offline
    );
    if want_away && !had_away {
        shared.status.update(team, user, |w| w.away = true);
        if let Err(error) = shared
            .user_call(
                "users.setPresence",
                team,
                user,
                &owner,
                true,
                &json!({ "presence": "away" }),
            )
            .await
        {
            shared.status.update(team, user, |w| w.away = false);
            return Err(error);
        }
    } else if !want_away && had_away {
        shared.status.update(team, user, |w| w.away = false);
        shared
            .user_call(
                "users.setPresence",
                team,
                user,
                &owner,
                true,
                &json!({ "presence": "auto" }),
            )
            .await?;
    }
    Ok(fingerprint.map_or_else(CommandOutcome::default, |f| {
        CommandOutcome::with_ref(f.as_str())
    }))
}
