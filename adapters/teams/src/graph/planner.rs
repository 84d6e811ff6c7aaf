//! The presence subscription lifecycle as a sans-IO state machine, so that hours of renewals,
//! failures and lifecycle events run in milliseconds of virtual time.
//!
//! Graph's rules shape it (reference `teams-graph.md` §4.1, §4.7, §8.2): a presence
//! subscription covers at most 650 users, lives at most 60 minutes, its user list cannot be
//! changed after creation, and one account may hold one presence subscription per app. So each
//! subscriber account is a *slot* holding at most one subscription over the users assigned to
//! it; `n` users need `ceil(n / 650)` slots.
//!
//! Feed it the mirrored users ([`SubscriptionPlanner::set_users`]), lifecycle events and the
//! outcome of every action; take actions with [`SubscriptionPlanner::poll`] until it returns
//! `None`, then sleep until [`SubscriptionPlanner::next_deadline`]. It never reads the clock.

use std::collections::BTreeSet;

use callbridge_model::AadObjectId;
use chrono::{DateTime, Duration, Utc};

/// Graph's limit of users per presence subscription (§4.1).
pub const MAX_USERS_PER_SUBSCRIPTION: usize = 650;

/// Timings of the planner.
#[derive(Clone, Debug)]
pub struct PlannerConfig {
    /// The expiry asked for (at most 60 minutes).
    pub lifetime: Duration,
    /// Renew once less than this is left.
    pub renew_when_left: Duration,
    /// First wait after a failed action; doubled per further failure.
    pub retry_base: Duration,
    /// Longest wait after a failure, so that every failure is retried within it.
    pub retry_max: Duration,
    /// How often every mirrored user is re-read.
    pub reread_every: Duration,
}

impl Default for PlannerConfig {
    fn default() -> Self {
        Self {
            lifetime: Duration::minutes(59),
            renew_when_left: Duration::minutes(30),
            retry_base: Duration::seconds(5),
            retry_max: Duration::seconds(30),
            reread_every: Duration::minutes(5),
        }
    }
}

/// Identifies an action so its outcome finds its slot.
pub type ActionId = u64;

/// What the planner wants done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// List the slot account's existing subscriptions (on start, and after a conflict).
    Inventory {
        /// The action.
        id: ActionId,
        /// The subscriber slot.
        slot: usize,
    },
    /// Create the slot's subscription over `users`.
    Create {
        /// The action.
        id: ActionId,
        /// The subscriber slot.
        slot: usize,
        /// The users, at most 650.
        users: Vec<AadObjectId>,
        /// The expiry to ask for.
        expires_at: DateTime<Utc>,
    },
    /// Extend a subscription's expiry.
    Renew {
        /// The action.
        id: ActionId,
        /// The subscriber slot.
        slot: usize,
        /// The subscription.
        subscription: String,
        /// The new expiry to ask for.
        expires_at: DateTime<Utc>,
    },
    /// Reauthorize a subscription after `reauthorizationRequired`.
    Reauthorize {
        /// The action.
        id: ActionId,
        /// The subscriber slot.
        slot: usize,
        /// The subscription.
        subscription: String,
    },
    /// Delete a subscription (an orphan, a duplicate, or one being replaced).
    Delete {
        /// The action.
        id: ActionId,
        /// The subscriber slot.
        slot: usize,
        /// The subscription.
        subscription: String,
    },
    /// Re-read these users' presence (`getPresencesByUserId`); needs no outcome.
    Reread {
        /// The users.
        users: Vec<AadObjectId>,
    },
}

/// A subscription Graph already holds, as an inventory finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Existing {
    /// Its id.
    pub id: String,
    /// The users its resource names.
    pub users: BTreeSet<AadObjectId>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

/// What became of an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The slot account's subscriptions to our notification URL.
    Inventoried(Vec<Existing>),
    /// Created with this id and expiry.
    Created {
        /// The subscription id.
        subscription: String,
        /// The expiry Graph granted.
        expires_at: DateTime<Utc>,
    },
    /// Renewed to this expiry.
    Renewed {
        /// The expiry Graph granted.
        expires_at: DateTime<Utc>,
    },
    /// Reauthorized.
    Reauthorized,
    /// Deleted.
    Deleted,
    /// 404: the subscription does not exist (any more).
    Gone,
    /// The create was refused because the account already holds a subscription.
    Conflict,
    /// 5xx, 429 beyond the client's patience, a timeout: try again after a back-off.
    Failed {
        /// What the platform asked for, if it did.
        retry_after: Option<std::time::Duration>,
    },
}

#[derive(Clone, Debug)]
struct Live {
    id: String,
    users: BTreeSet<AadObjectId>,
    expires_at: DateTime<Utc>,
}

/// What a slot's action in flight acts on, to read its outcome right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The slot's live subscription (or the one being created).
    Live,
    /// The first orphan.
    Orphan,
    /// The account's inventory.
    Inventory,
}

#[derive(Clone, Debug)]
struct Slot {
    subscription: Option<Live>,
    assigned: BTreeSet<AadObjectId>,
    orphans: Vec<String>,
    in_flight: Option<(ActionId, Target)>,
    retry_at: Option<DateTime<Utc>>,
    failures: u32,
    needs_inventory: bool,
    needs_reauthorize: bool,
}

/// The lifecycle of every presence subscription of one tenant.
#[derive(Clone, Debug)]
pub struct SubscriptionPlanner {
    config: PlannerConfig,
    slots: Vec<Slot>,
    mirrored: BTreeSet<AadObjectId>,
    next_id: ActionId,
    next_reread: Option<DateTime<Utc>>,
    reread_soon: BTreeSet<AadObjectId>,
}

impl SubscriptionPlanner {
    /// A planner over `slots` subscriber accounts; each starts with an inventory.
    pub fn new(config: PlannerConfig, slots: usize) -> Self {
        let slot = Slot {
            subscription: None,
            assigned: BTreeSet::new(),
            orphans: Vec::new(),
            in_flight: None,
            retry_at: None,
            failures: 0,
            needs_inventory: true,
            needs_reauthorize: false,
        };
        Self {
            config,
            slots: vec![slot; slots],
            mirrored: BTreeSet::new(),
            next_id: 1,
            next_reread: None,
            reread_soon: BTreeSet::new(),
        }
    }

    /// Replaces the set of mirrored users.
    pub fn set_users(&mut self, users: impl IntoIterator<Item = AadObjectId>) {
        self.mirrored = users.into_iter().collect();
        self.rebalance();
    }

    /// The mirrored users no slot can take (too few subscriber accounts).
    pub fn uncovered(&self) -> usize {
        let assigned: usize = self.slots.iter().map(|slot| slot.assigned.len()).sum();
        self.mirrored.len().saturating_sub(assigned)
    }

    /// The live subscriptions: (slot, id, expiry, users).
    pub fn subscriptions(
        &self,
    ) -> impl Iterator<Item = (usize, &str, DateTime<Utc>, &BTreeSet<AadObjectId>)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            slot.subscription
                .as_ref()
                .map(|live| (index, live.id.as_str(), live.expires_at, &live.users))
        })
    }

    /// `reauthorizationRequired` for `subscription` (§4.7).
    pub fn reauthorization_required(&mut self, subscription: &str) {
        if let Some(slot) = self.slot_of(subscription) {
            self.slots[slot].needs_reauthorize = true;
        }
    }

    /// `subscriptionRemoved`: Graph dropped it; it is recreated.
    pub fn removed(&mut self, subscription: &str) {
        if let Some(slot) = self.slot_of(subscription) {
            self.slots[slot].subscription = None;
            self.slots[slot].needs_reauthorize = false;
        }
    }

    /// `missed`: notifications were lost; the subscription's users are re-read.
    pub fn missed(&mut self, subscription: &str) {
        if let Some(slot) = self.slot_of(subscription) {
            let users = self.slots[slot].assigned.clone();
            self.reread_soon.extend(users);
        }
    }

    /// Asks for a re-read of one user (a basic notification carries no state).
    pub fn reread(&mut self, user: AadObjectId) {
        if self.mirrored.contains(&user) {
            self.reread_soon.insert(user);
        }
    }

    fn slot_of(&self, subscription: &str) -> Option<usize> {
        self.slots.iter().position(|slot| {
            slot.subscription
                .as_ref()
                .is_some_and(|live| live.id.eq_ignore_ascii_case(subscription))
        })
    }

    /// Assigns every mirrored user to a slot: users stay where they are; new users go first
    /// to slots without a live subscription (no gap for anyone), then to slots with room,
    /// whose subscription is then replaced.
    fn rebalance(&mut self) {
        for slot in &mut self.slots {
            slot.assigned.retain(|user| self.mirrored.contains(user));
        }
        let mut uncovered: Vec<AadObjectId> = self
            .mirrored
            .iter()
            .filter(|user| !self.slots.iter().any(|slot| slot.assigned.contains(user)))
            .copied()
            .collect();
        uncovered.reverse();
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        order.sort_by_key(|&index| {
            let slot = &self.slots[index];
            (slot.subscription.is_some(), slot.assigned.len())
        });
        for index in order {
            let slot = &mut self.slots[index];
            while slot.assigned.len() < MAX_USERS_PER_SUBSCRIPTION {
                match uncovered.pop() {
                    Some(user) => {
                        slot.assigned.insert(user);
                    }
                    None => break,
                }
            }
        }
    }

    fn take_id(&mut self) -> ActionId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The next action due at `now`, if any. Each slot has at most one action in flight.
    pub fn poll(&mut self, now: DateTime<Utc>) -> Option<Action> {
        if self.next_reread.is_none_or(|at| at <= now) && !self.mirrored.is_empty() {
            self.next_reread = Some(now + self.config.reread_every);
            self.reread_soon.clear();
            return Some(Action::Reread {
                users: self.mirrored.iter().copied().collect(),
            });
        }
        if !self.reread_soon.is_empty() {
            let users = std::mem::take(&mut self.reread_soon);
            return Some(Action::Reread {
                users: users.into_iter().collect(),
            });
        }
        for index in 0..self.slots.len() {
            if let Some(action) = self.slot_action(index, now) {
                return Some(action);
            }
        }
        None
    }

    fn slot_action(&mut self, index: usize, now: DateTime<Utc>) -> Option<Action> {
        let config = self.config.clone();
        // With nobody to mirror there is nothing to inventory yet (ours lapse on their own).
        let mirroring = !self.mirrored.is_empty();
        let ready = {
            let slot = &mut self.slots[index];
            if slot
                .subscription
                .as_ref()
                .is_some_and(|live| live.expires_at <= now)
            {
                // Lapsed: Graph has dropped it.
                slot.subscription = None;
                slot.needs_reauthorize = false;
            }
            slot.in_flight.is_none() && slot.retry_at.is_none_or(|at| at <= now)
        };
        if !ready {
            return None;
        }
        let id = self.take_id();
        let slot = &mut self.slots[index];
        let action = if slot.needs_inventory {
            if !mirroring {
                return None;
            }
            Action::Inventory { id, slot: index }
        } else if let Some(orphan) = slot.orphans.first().cloned() {
            Action::Delete {
                id,
                slot: index,
                subscription: orphan,
            }
        } else {
            match &slot.subscription {
                None if slot.assigned.is_empty() => return None,
                None => Action::Create {
                    id,
                    slot: index,
                    users: slot.assigned.iter().copied().collect(),
                    expires_at: now + config.lifetime,
                },
                Some(live) if slot.assigned.is_empty() || !slot.assigned.is_subset(&live.users) => {
                    Action::Delete {
                        id,
                        slot: index,
                        subscription: live.id.clone(),
                    }
                }
                Some(live) if slot.needs_reauthorize => Action::Reauthorize {
                    id,
                    slot: index,
                    subscription: live.id.clone(),
                },
                Some(live) if live.expires_at - config.renew_when_left <= now => Action::Renew {
                    id,
                    slot: index,
                    subscription: live.id.clone(),
                    expires_at: now + config.lifetime,
                },
                Some(_) => return None,
            }
        };
        let target = match &action {
            Action::Inventory { .. } => Target::Inventory,
            Action::Delete { subscription, .. } if slot.orphans.first() == Some(subscription) => {
                Target::Orphan
            }
            _ => Target::Live,
        };
        slot.in_flight = Some((id, target));
        Some(action)
    }

    /// Feeds back what became of action `id`.
    pub fn on_outcome(&mut self, id: ActionId, outcome: Outcome, now: DateTime<Utc>) {
        let Some(index) = self
            .slots
            .iter()
            .position(|slot| slot.in_flight.is_some_and(|(flying, _)| flying == id))
        else {
            return;
        };
        let target = self.slots[index]
            .in_flight
            .map_or(Target::Live, |(_, target)| target);
        self.slots[index].in_flight = None;
        match outcome {
            Outcome::Failed { retry_after } => self.back_off(index, retry_after, now),
            Outcome::Inventoried(existing) => self.adopt(index, existing, now),
            other => self.settle(index, target, other),
        }
    }

    fn back_off(
        &mut self,
        index: usize,
        retry_after: Option<std::time::Duration>,
        now: DateTime<Utc>,
    ) {
        let slot = &mut self.slots[index];
        slot.failures = slot.failures.saturating_add(1);
        let exponent = slot.failures.saturating_sub(1).min(16);
        let backoff = self.config.retry_base * 2_i32.pow(exponent);
        let asked = retry_after
            .and_then(|wait| Duration::from_std(wait).ok())
            .unwrap_or(backoff);
        slot.retry_at = Some(now + asked.min(self.config.retry_max));
    }

    /// Takes over the newest unexpired subscription the account holds; the rest are orphans.
    fn adopt(&mut self, index: usize, mut existing: Vec<Existing>, now: DateTime<Utc>) {
        existing.retain(|found| found.expires_at > now);
        existing.sort_by_key(|found| std::cmp::Reverse(found.expires_at));
        let mut found = existing.into_iter();
        let slot = &mut self.slots[index];
        slot.needs_inventory = false;
        slot.failures = 0;
        slot.retry_at = None;
        if let Some(keep) = found.next() {
            if slot.assigned.is_empty() {
                slot.assigned = keep
                    .users
                    .iter()
                    .filter(|user| self.mirrored.contains(user))
                    .copied()
                    .collect();
            }
            slot.subscription = Some(Live {
                id: keep.id,
                users: keep.users,
                expires_at: keep.expires_at,
            });
        }
        slot.orphans.extend(found.map(|orphan| orphan.id));
        // Users adopted here may have been assigned to another slot already: keep one place.
        let adopted = self.slots[index].assigned.clone();
        for (other, slot) in self.slots.iter_mut().enumerate() {
            if other != index {
                slot.assigned.retain(|user| !adopted.contains(user));
            }
        }
        self.rebalance();
    }

    fn settle(&mut self, index: usize, target: Target, outcome: Outcome) {
        let slot = &mut self.slots[index];
        slot.failures = 0;
        slot.retry_at = None;
        let mut reread = false;
        match outcome {
            Outcome::Conflict => slot.needs_inventory = true,
            Outcome::Created {
                subscription,
                expires_at,
            } => {
                slot.subscription = Some(Live {
                    id: subscription,
                    users: slot.assigned.clone(),
                    expires_at,
                });
                slot.needs_reauthorize = false;
                // Changes during the gap before it existed are caught by a re-read.
                reread = true;
            }
            Outcome::Renewed { expires_at } => {
                if let Some(live) = &mut slot.subscription {
                    live.expires_at = expires_at;
                }
            }
            Outcome::Reauthorized => {
                slot.needs_reauthorize = false;
                // Changes while delivery was paused are lost (§4.7).
                reread = true;
            }
            Outcome::Deleted | Outcome::Gone if target == Target::Orphan => {
                if !slot.orphans.is_empty() {
                    slot.orphans.remove(0);
                }
            }
            Outcome::Deleted | Outcome::Gone => {
                slot.subscription = None;
                slot.needs_reauthorize = false;
            }
            Outcome::Inventoried(_) | Outcome::Failed { .. } => {}
        }
        if reread {
            let users = slot.assigned.clone();
            self.reread_soon.extend(users);
        }
    }

    /// When [`poll`](Self::poll) next has something to do (`now` if it has already).
    pub fn next_deadline(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut next = self.next_reread;
        if !self.reread_soon.is_empty() {
            next = Some(now);
        }
        for slot in &self.slots {
            if slot.in_flight.is_some() {
                continue;
            }
            let due = if let Some(at) = slot.retry_at {
                Some(at)
            } else if slot.needs_inventory {
                (!self.mirrored.is_empty()).then_some(now)
            } else if !slot.orphans.is_empty() || slot.needs_reauthorize {
                Some(now)
            } else {
                match &slot.subscription {
                    None if slot.assigned.is_empty() => None,
                    None => Some(now),
                    Some(live) if !slot.assigned.is_subset(&live.users) => Some(now),
                    Some(_) if slot.assigned.is_empty() => Some(now),
                    Some(live) => Some(live.expires_at - self.config.renew_when_left),
                }
            };
            next = match (next, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        next.map(|at| at.max(now))
    }
}
