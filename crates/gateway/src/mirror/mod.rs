//! Presence mirroring: the gateway's shell around the engine's [`PresenceMirror`].
//!
//! One task owns the mirror. It is fed the links between users (opted in when the Slack user
//! has authorised callbridge to write their status), presence changes from both platforms and
//! the users on calls; it performs the writes the mirror asks for through the adapters, keeps
//! each target's record in the store, and tells the Teams adapter which users its presence
//! subscriptions must cover.

mod records;
mod writer;

use std::collections::BTreeSet;

use callbridge_adapter::TokenVault;
use callbridge_engine::PresenceMirror;
use callbridge_engine::presence::{MirrorConfig, PresenceInput, PresenceOutput};
use callbridge_model::{AadObjectId, UserRef};
use callbridge_store::{PresenceMirrorStore, SqlStore, UserLink, UserLinkStore};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::platforms::{Platforms, StoreVault};

/// How many inputs may wait for the mirror.
const INPUT_DEPTH: usize = 65_536;
/// Longest the loop sleeps without an input.
const MAX_SLEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// The presence mirror's inputs. Cheap to clone.
#[derive(Clone)]
pub struct MirrorService {
    inputs: mpsc::Sender<PresenceInput>,
    vault: std::sync::Arc<StoreVault>,
}

impl std::fmt::Debug for MirrorService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorService").finish_non_exhaustive()
    }
}

impl MirrorService {
    /// Loads the links and the stored records, and starts the mirror's task.
    pub async fn start(
        store: SqlStore,
        platforms: Platforms,
        config: MirrorConfig,
    ) -> Result<Self, callbridge_store::StoreError> {
        let (inputs, rx) = mpsc::channel(INPUT_DEPTH);
        let vault = std::sync::Arc::new(StoreVault::new(store.clone()));
        let service = Self {
            inputs,
            vault: vault.clone(),
        };
        let links = store.links().await?;
        let mut seed = Vec::new();
        for link in &links {
            let (slack, teams) = sides(link);
            for target in [&slack, &teams] {
                let record = records::load(&store, target).await?;
                seed.push(PresenceInput::Restore {
                    target: target.clone(),
                    record,
                });
            }
            let mirror = opted_in(&vault, link).await;
            seed.push(PresenceInput::Link {
                slack,
                teams,
                mirror,
            });
        }
        let task = MirrorTask {
            mirror: PresenceMirror::new(config),
            inputs: rx,
            store,
            writers: writer::Writers::new(platforms.clone(), service.inputs.clone()),
            platforms,
            teams_users: BTreeSet::new(),
        };
        tokio::spawn(task.run(seed));
        Ok(service)
    }

    /// A user's presence changed on their own platform.
    pub fn changed(&self, user: UserRef, presence: callbridge_model::Presence) {
        self.offer(PresenceInput::Changed { user, presence });
    }

    /// A user started or stopped being on a call.
    pub fn on_call(&self, user: UserRef, on_call: bool) {
        self.offer(PresenceInput::OnCall { user, on_call });
    }

    /// Two users were linked; `mirror` is their opt-in.
    pub fn linked(&self, slack: UserRef, teams: UserRef, mirror: bool) {
        self.offer(PresenceInput::Link {
            slack,
            teams,
            mirror,
        });
    }

    /// A link made by an operator or found by address: mirrored when the Slack user has
    /// authorised callbridge to write their status.
    pub async fn add_link(&self, link: &UserLink) {
        let mirror = opted_in(&self.vault, link).await;
        let (slack, teams) = sides(link);
        self.linked(slack, teams, mirror);
    }

    /// The pair containing `user` was unlinked.
    pub fn unlinked(&self, user: UserRef) {
        self.offer(PresenceInput::Unlink { user });
    }

    /// Queues an input without waiting: a presence change that cannot be queued is dropped
    /// and counted (the periodic re-read corrects it) rather than stalling calls.
    fn offer(&self, input: PresenceInput) {
        if self.inputs.try_send(input).is_err() {
            metrics::counter!("callbridge_presence_inputs_dropped_total").increment(1);
        }
    }
}

/// Whether a pair opted in: the Slack user authorised callbridge to write their status.
async fn opted_in(vault: &StoreVault, link: &UserLink) -> bool {
    let key = callbridge_slack::user_key(link.slack_team.as_str(), link.slack_user.as_str());
    matches!(vault.load(&key).await, Ok(Some(_)))
}

fn sides(link: &UserLink) -> (UserRef, UserRef) {
    (
        UserRef::Slack {
            team: link.slack_team.clone(),
            user: link.slack_user.clone(),
        },
        UserRef::Teams {
            tenant: link.teams_tenant,
            user: link.teams_user,
        },
    )
}

struct MirrorTask {
    mirror: PresenceMirror,
    inputs: mpsc::Receiver<PresenceInput>,
    store: SqlStore,
    platforms: Platforms,
    writers: writer::Writers,
    teams_users: BTreeSet<AadObjectId>,
}

impl MirrorTask {
    async fn run(mut self, seed: Vec<PresenceInput>) {
        for input in seed {
            self.handle(input);
        }
        let mut deadline = self.drain().await;
        loop {
            let wait = (deadline - Utc::now())
                .to_std()
                .unwrap_or(std::time::Duration::ZERO)
                .min(MAX_SLEEP);
            let input = tokio::select! {
                input = self.inputs.recv() => match input {
                    Some(input) => input,
                    None => return,
                },
                () = tokio::time::sleep(wait) => PresenceInput::Timeout,
            };
            self.handle(input);
            deadline = self.drain().await;
        }
    }

    fn handle(&mut self, input: PresenceInput) {
        if let PresenceInput::Link { teams, mirror, .. } = &input
            && let UserRef::Teams { user, .. } = teams
        {
            let changed = if *mirror {
                self.teams_users.insert(*user)
            } else {
                self.teams_users.remove(user)
            };
            if changed && let Some(adapter) = self.platforms.teams() {
                adapter
                    .presence()
                    .set_users(self.teams_users.iter().copied());
            }
        }
        self.mirror.handle_input(input, Utc::now());
    }

    async fn drain(&mut self) -> DateTime<Utc> {
        loop {
            match self.mirror.poll_output() {
                PresenceOutput::Timeout(at) => return at,
                PresenceOutput::Write { target, presence } => self.writers.write(target, presence),
                PresenceOutput::Save { target, record } => {
                    if let Err(error) = self
                        .store
                        .save_mirror_state(&target, &records::to_store(&record), Utc::now())
                        .await
                    {
                        tracing::warn!(%error, "could not save a presence mirror record");
                    }
                }
                PresenceOutput::Alert { user, reason } => {
                    metrics::counter!(
                        "callbridge_presence_alerts_total",
                        "platform" => user.platform().as_str(),
                    )
                    .increment(1);
                    tracing::warn!(
                        platform = user.platform().as_str(),
                        ?reason,
                        "presence mirroring stopped for a user"
                    );
                }
                _ => {}
            }
        }
    }
}
