//! The presence subscription lifecycle in virtual time (reference `teams-graph.md` §4.1, §4.7,
//! §8.2): the planner drives a model of Graph's subscription rules (≤ 650 users, ≤ 60 minutes,
//! one subscription per account and app, expiry enforced) through days of simulated time, with
//! renewal failures injected, and every mirrored user must stay covered.

use std::collections::{BTreeMap, BTreeSet};

use callbridge_model::AadObjectId;
use callbridge_teams::graph::planner::{
    Action, Existing, MAX_USERS_PER_SUBSCRIPTION, Outcome, PlannerConfig, SubscriptionPlanner,
};
use chrono::{DateTime, Duration, TimeZone, Utc};

/// Graph's subscription rules, in memory, on virtual time.
#[derive(Default)]
struct Graph {
    /// id → (slot, users, expiry)
    subscriptions: BTreeMap<String, (usize, BTreeSet<AadObjectId>, DateTime<Utc>)>,
    next: u32,
    /// Faults for the next renewals, consumed in order.
    renew_faults: Vec<Fault>,
    creates: u32,
    reread_batches: u32,
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    NotFound,
    Unavailable,
    Timeout,
}

impl Graph {
    fn sweep(&mut self, now: DateTime<Utc>) {
        self.subscriptions
            .retain(|_, (_, _, expires)| *expires > now);
    }

    fn apply(&mut self, action: &Action, now: DateTime<Utc>) -> Option<Outcome> {
        self.sweep(now);
        let clamp = |asked: DateTime<Utc>| {
            assert!(
                asked <= now + Duration::minutes(60),
                "expiry beyond 60 minutes"
            );
            asked.max(now + Duration::minutes(45))
        };
        Some(match action {
            Action::Reread { users } => {
                assert!(users.len() <= 650 * 8);
                self.reread_batches += 1;
                return None;
            }
            Action::Inventory { slot, .. } => Outcome::Inventoried(
                self.subscriptions
                    .iter()
                    .filter(|(_, (owner, _, _))| owner == slot)
                    .map(|(id, (_, users, expires))| Existing {
                        id: id.clone(),
                        users: users.clone(),
                        expires_at: *expires,
                    })
                    .collect(),
            ),
            Action::Create {
                slot,
                users,
                expires_at,
                ..
            } => {
                assert!(!users.is_empty() && users.len() <= MAX_USERS_PER_SUBSCRIPTION);
                if self
                    .subscriptions
                    .values()
                    .any(|(owner, _, _)| owner == slot)
                {
                    return Some(Outcome::Conflict);
                }
                self.next += 1;
                self.creates += 1;
                let id = format!("sub-{}", self.next);
                let expires = clamp(*expires_at);
                self.subscriptions.insert(
                    id.clone(),
                    (*slot, users.iter().copied().collect(), expires),
                );
                Outcome::Created {
                    subscription: id,
                    expires_at: expires,
                }
            }
            Action::Renew {
                subscription,
                expires_at,
                ..
            } => {
                if let Some(fault) =
                    (!self.renew_faults.is_empty()).then(|| self.renew_faults.remove(0))
                {
                    return Some(match fault {
                        Fault::NotFound => {
                            // Graph lost it: it is really gone.
                            self.subscriptions.remove(subscription);
                            Outcome::Gone
                        }
                        Fault::Unavailable => Outcome::Failed {
                            retry_after: Some(std::time::Duration::from_secs(3)),
                        },
                        Fault::Timeout => Outcome::Failed { retry_after: None },
                    });
                }
                match self.subscriptions.get_mut(subscription) {
                    Some((_, _, expires)) => {
                        *expires = clamp(*expires_at);
                        Outcome::Renewed {
                            expires_at: *expires,
                        }
                    }
                    None => Outcome::Gone,
                }
            }
            Action::Reauthorize { subscription, .. } => {
                if self.subscriptions.contains_key(subscription) {
                    Outcome::Reauthorized
                } else {
                    Outcome::Gone
                }
            }
            Action::Delete { subscription, .. } => {
                if self.subscriptions.remove(subscription).is_some() {
                    Outcome::Deleted
                } else {
                    Outcome::Gone
                }
            }
        })
    }

    fn covered(&self, now: DateTime<Utc>) -> BTreeSet<AadObjectId> {
        self.subscriptions
            .values()
            .filter(|(_, _, expires)| *expires > now)
            .flat_map(|(_, users, _)| users.iter().copied())
            .collect()
    }
}

fn action_id(action: &Action) -> u64 {
    match action {
        Action::Inventory { id, .. }
        | Action::Create { id, .. }
        | Action::Renew { id, .. }
        | Action::Reauthorize { id, .. }
        | Action::Delete { id, .. } => *id,
        Action::Reread { .. } => 0,
    }
}

fn users(count: u128) -> Vec<AadObjectId> {
    (0..count)
        .map(|n| AadObjectId::from_uuid(uuid_from(n + 1)))
        .collect()
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x3f2a_1b4c_5d6e_4f70_8a9b_0000_0000_0000 | n)
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

/// Runs the planner until `until`, checking coverage at every step (at least once a minute).
/// Returns the longest stretch any mirrored user was uncovered after `grace` from start.
fn run(
    planner: &mut SubscriptionPlanner,
    graph: &mut Graph,
    mirrored: &BTreeSet<AadObjectId>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    mut on_step: impl FnMut(DateTime<Utc>, &mut SubscriptionPlanner, &mut Graph),
) -> Duration {
    let mut now = from;
    let mut gap_started: Option<DateTime<Utc>> = None;
    let mut worst = Duration::zero();
    while now < until {
        on_step(now, planner, graph);
        while let Some(action) = planner.poll(now) {
            if let Some(outcome) = graph.apply(&action, now) {
                planner.on_outcome(action_id(&action), outcome, now);
            }
        }
        let covered = graph.covered(now);
        if mirrored.is_subset(&covered) {
            if let Some(started) = gap_started.take() {
                worst = worst.max(now - started);
            }
        } else if gap_started.is_none() {
            gap_started = Some(now);
        }
        let next = planner
            .next_deadline(now)
            .unwrap_or(now + Duration::minutes(1));
        now = next
            .min(now + Duration::minutes(1))
            .max(now + Duration::seconds(1));
    }
    if let Some(started) = gap_started {
        worst = worst.max(until - started);
    }
    worst
}

#[test]
fn seventy_two_hours_keep_every_user_covered_without_a_gap() {
    let mut planner = SubscriptionPlanner::new(PlannerConfig::default(), 2);
    let mirrored: BTreeSet<_> = users(900).into_iter().collect();
    planner.set_users(mirrored.iter().copied());
    let mut graph = Graph::default();
    let from = start();
    // The first step creates; coverage is judged from then on.
    while let Some(action) = planner.poll(from) {
        if let Some(outcome) = graph.apply(&action, from) {
            planner.on_outcome(action_id(&action), outcome, from);
        }
    }
    assert!(mirrored.is_subset(&graph.covered(from)));
    let gap = run(
        &mut planner,
        &mut graph,
        &mirrored,
        from,
        from + Duration::hours(72),
        |_, _, _| {},
    );
    assert_eq!(gap, Duration::zero());
    // Two subscriptions were made once and renewed since: no churn.
    assert_eq!(graph.creates, 2);
    assert_eq!(graph.subscriptions.len(), 2);
    // Periodic re-reads ran (every 5 minutes over 72 hours).
    assert!(graph.reread_batches >= 72 * 12, "{}", graph.reread_batches);
}

#[test]
fn two_thousand_users_take_four_subscriptions() {
    let mut planner = SubscriptionPlanner::new(PlannerConfig::default(), 6);
    let mirrored: BTreeSet<_> = users(2000).into_iter().collect();
    planner.set_users(mirrored.iter().copied());
    let mut graph = Graph::default();
    let gap = run(
        &mut planner,
        &mut graph,
        &mirrored,
        start(),
        start() + Duration::hours(3),
        |_, _, _| {},
    );
    assert_eq!(gap, Duration::zero());
    assert_eq!(graph.subscriptions.len(), 4);
    assert!(
        graph
            .subscriptions
            .values()
            .all(|(_, users, _)| users.len() <= MAX_USERS_PER_SUBSCRIPTION)
    );
    assert_eq!(planner.uncovered(), 0);
    // Too few accounts: the rest is reported, not silently dropped.
    let mut short = SubscriptionPlanner::new(PlannerConfig::default(), 3);
    short.set_users(mirrored.iter().copied());
    assert_eq!(short.uncovered(), 2000 - 3 * 650);
}

#[test]
fn renewal_failures_recover_within_a_minute() {
    for fault in [Fault::NotFound, Fault::Unavailable, Fault::Timeout] {
        let mut planner = SubscriptionPlanner::new(PlannerConfig::default(), 1);
        let mirrored: BTreeSet<_> = users(10).into_iter().collect();
        planner.set_users(mirrored.iter().copied());
        let mut graph = Graph::default();
        let from = start();
        run(
            &mut planner,
            &mut graph,
            &mirrored,
            from,
            from + Duration::seconds(1),
            |_, _, _| {},
        );
        let first_expiry = graph.subscriptions.values().next().unwrap().2;
        // A 404 is answered by recreating; transient failures come three in a row.
        let count = if matches!(fault, Fault::NotFound) {
            1
        } else {
            3
        };
        graph.renew_faults = vec![fault; count];
        // Track when the subscription is healthy again after the first failed renewal.
        let mut failed_at = None;
        let mut recovered_at = None;
        let gap = run(
            &mut planner,
            &mut graph,
            &mirrored,
            from + Duration::seconds(1),
            from + Duration::hours(2),
            |now, _, graph| {
                if failed_at.is_none() && graph.renew_faults.len() < count {
                    failed_at = Some(now);
                }
                if failed_at.is_some()
                    && recovered_at.is_none()
                    && graph.renew_faults.is_empty()
                    && graph
                        .subscriptions
                        .values()
                        .any(|(_, _, at)| *at > first_expiry)
                {
                    recovered_at = Some(now);
                }
            },
        );
        let (failed, recovered) = (failed_at.unwrap(), recovered_at.unwrap());
        assert!(
            recovered - failed <= Duration::minutes(1),
            "{fault:?}: recovered after {}",
            recovered - failed
        );
        match fault {
            // A renewal answered 404 means Graph dropped the subscription: it is recreated at
            // once, and the recreate itself never left anyone uncovered for a minute.
            Fault::NotFound => assert!(gap < Duration::minutes(1), "{fault:?}: gap {gap}"),
            // Transient failures are retried long before the subscription lapses.
            Fault::Unavailable | Fault::Timeout => assert_eq!(gap, Duration::zero(), "{fault:?}"),
        }
    }
}

#[test]
fn inventory_adopts_one_subscription_and_deletes_orphans() {
    let mirrored: BTreeSet<_> = users(20).into_iter().collect();
    let mut graph = Graph::default();
    let now = start();
    // A previous run left two subscriptions for slot 0 (one stale duplicate).
    for (id, expiry) in [("old-1", 20), ("old-2", 50)] {
        graph.subscriptions.insert(
            id.to_owned(),
            (
                0,
                mirrored.iter().copied().collect(),
                now + Duration::minutes(expiry),
            ),
        );
    }
    let mut planner = SubscriptionPlanner::new(PlannerConfig::default(), 1);
    planner.set_users(mirrored.iter().copied());
    while let Some(action) = planner.poll(now) {
        if let Some(outcome) = graph.apply(&action, now) {
            planner.on_outcome(action_id(&action), outcome, now);
        }
    }
    assert_eq!(graph.creates, 0, "no duplicate was created");
    assert_eq!(
        graph.subscriptions.keys().collect::<Vec<_>>(),
        vec!["old-2"]
    );
    let live: Vec<_> = planner
        .subscriptions()
        .map(|(_, id, _, _)| id.to_owned())
        .collect();
    assert_eq!(live, vec!["old-2".to_owned()]);
}

#[test]
fn lifecycle_events_reauthorize_recreate_and_reread() {
    let mirrored: BTreeSet<_> = users(5).into_iter().collect();
    let mut graph = Graph::default();
    let now = start();
    let mut planner = SubscriptionPlanner::new(PlannerConfig::default(), 1);
    planner.set_users(mirrored.iter().copied());
    let drain = |planner: &mut SubscriptionPlanner, graph: &mut Graph, now| {
        let mut seen = Vec::new();
        while let Some(action) = planner.poll(now) {
            if let Some(outcome) = graph.apply(&action, now) {
                planner.on_outcome(action_id(&action), outcome, now);
            }
            seen.push(action);
        }
        seen
    };
    drain(&mut planner, &mut graph, now);
    let id = graph.subscriptions.keys().next().unwrap().clone();

    planner.reauthorization_required(&id);
    let actions = drain(&mut planner, &mut graph, now + Duration::minutes(1));
    assert!(matches!(&actions[0], Action::Reauthorize { subscription, .. } if *subscription == id));
    assert!(matches!(&actions[1], Action::Reread { users } if users.len() == 5));

    planner.missed(&id);
    let actions = drain(&mut planner, &mut graph, now + Duration::minutes(2));
    assert!(matches!(&actions[..], [Action::Reread { users }] if users.len() == 5));

    graph.subscriptions.clear();
    planner.removed(&id);
    let actions = drain(&mut planner, &mut graph, now + Duration::minutes(3));
    assert!(matches!(&actions[0], Action::Create { users, .. } if users.len() == 5));
    assert_eq!(graph.subscriptions.len(), 1);
}

#[test]
fn new_users_go_to_a_free_account_and_departed_ones_free_theirs() {
    let all = users(700);
    let mut graph = Graph::default();
    let now = start();
    let mut planner = SubscriptionPlanner::new(PlannerConfig::default(), 3);
    planner.set_users(all[..600].iter().copied());
    let drain = |planner: &mut SubscriptionPlanner, graph: &mut Graph, now| {
        while let Some(action) = planner.poll(now) {
            if let Some(outcome) = graph.apply(&action, now) {
                planner.on_outcome(action_id(&action), outcome, now);
            }
        }
    };
    drain(&mut planner, &mut graph, now);
    let first: Vec<String> = graph.subscriptions.keys().cloned().collect();
    assert_eq!(first.len(), 1);
    // 100 more: the live subscription is untouched, a free account takes them.
    planner.set_users(all.iter().copied());
    drain(&mut planner, &mut graph, now + Duration::minutes(1));
    assert_eq!(graph.subscriptions.len(), 2);
    assert!(graph.subscriptions.contains_key(&first[0]));
    assert!(
        all.iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .is_subset(&graph.covered(now))
    );
    // The newcomers leave again: their subscription goes.
    planner.set_users(all[..600].iter().copied());
    drain(&mut planner, &mut graph, now + Duration::minutes(2));
    assert_eq!(
        graph.subscriptions.keys().cloned().collect::<Vec<_>>(),
        first
    );
}
