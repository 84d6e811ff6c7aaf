//! [`PresenceMirror`]: the state machine that turns presence changes into writes on the other
//! platform, following the rules of DESIGN.md §3.
//!
//! **Conflict rule.** When both sides of a pair change within one coalescing window (each
//! side has a write to the other waiting), only one write goes out: the side whose latest
//! change has the later timestamp (`now` of its `Changed`) wins and is written to the other
//! side; the other side's write is dropped. On equal timestamps Teams wins. Both sides then
//! show the winner's state, with at most one write, whatever the order the events arrive in.
//!
//! **Calls.** While a user is on a callbridge call their counterpart shows "on a call";
//! changes mirrored meanwhile are held, and when the call ends the latest held value is
//! written, or else the value from before the call — in both cases only if the counterpart
//! still shows our "on a call" (a change they made by hand in between is left alone).
//!
//! **Budgets.** Coalescing and the breaker (default 8 writes per minute per user) keep each
//! Slack user within Slack's 10 profile writes per minute. Graph's presence budget is per
//! tenant (1 500 requests per 30 s per app); the shared client layer in the adapters
//! enforces it, queuing rather than dropping, so the mirror only keeps the count of writes
//! down.

use std::collections::{BTreeSet, VecDeque};

use callbridge_model::{Platform, Presence, PresenceOrigin, PresenceSource, UserRef};
use chrono::{DateTime, Duration, Utc};

use super::breaker::Breaker;
use super::breaker::{Admit, Limits};
use super::config::MirrorConfig;
use super::fingerprint;
use super::io::{AlertReason, MirrorRecord, PresenceInput, PresenceOutput};
use super::rules::{clear_value, map_across, on_call_value};
use super::slots::Slots;
use super::user::{Pending, UserState};

/// Writes that fail in a row before the operator is told.
const FAILURES_BEFORE_ALERT: u32 = 3;

/// The deadline reported when nothing is scheduled.
const IDLE: Duration = Duration::hours(1);

/// What the mirror did that produced no output, for metrics and the dashboard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Inputs about users the mirror does not know (not linked): ignored.
    pub unknown_users: u64,
    /// Changes recognised as callbridge's own echo: not mirrored.
    pub echoes: u64,
    /// Reports equal to the value already known (duplicate notifications): ignored.
    pub duplicates: u64,
    /// Changes no mapping rule covers: nothing written.
    pub unmapped: u64,
    /// Writes skipped because the target's value was set by hand.
    pub protected: u64,
    /// Writes dropped by the conflict rule.
    pub conflicts: u64,
    /// Times a breaker tripped.
    pub breaker_trips: u64,
}

/// The presence mirroring policy: fed inputs with `now`, drained for outputs.
#[derive(Debug)]
pub struct PresenceMirror {
    config: MirrorConfig,
    coalesce: Duration,
    limits: Limits,
    slots: Slots,
    /// Pending writes by due time and slot.
    timers: BTreeSet<(DateTime<Utc>, u32)>,
    queue: VecDeque<PresenceOutput>,
    writes_issued: u64,
    pairs: usize,
    now: DateTime<Utc>,
    stats: MirrorStats,
}

fn to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

impl PresenceMirror {
    /// A mirror with no users linked.
    pub fn new(config: MirrorConfig) -> Self {
        Self {
            coalesce: to_chrono(config.coalesce),
            limits: Limits {
                writes: config.breaker_writes,
                window: to_chrono(config.breaker_window),
                cooldown: to_chrono(config.breaker_cooldown),
            },
            config,
            slots: Slots::default(),
            timers: BTreeSet::new(),
            queue: VecDeque::new(),
            writes_issued: 0,
            pairs: 0,
            now: DateTime::<Utc>::UNIX_EPOCH,
            stats: MirrorStats::default(),
        }
    }

    /// Feeds one input at `now`.
    pub fn handle_input(&mut self, input: PresenceInput, now: DateTime<Utc>) {
        self.now = self.now.max(now);
        match input {
            PresenceInput::Link {
                slack,
                teams,
                mirror,
            } => self.link(slack, teams, mirror),
            PresenceInput::Unlink { user } => self.unlink(&user),
            PresenceInput::Changed { user, presence } => self.changed(&user, &presence, now),
            PresenceInput::OnCall { user, on_call } => self.on_call(&user, on_call, now),
            PresenceInput::WriteResult { target, ok } => self.write_result(&target, ok),
            PresenceInput::Pause { user, paused } => self.pause(user, paused),
            PresenceInput::Restore { target, record } => self.restore(target, record),
            PresenceInput::Timeout => self.timeout(now),
        }
    }

    /// The next output; ends with [`PresenceOutput::Timeout`] carrying the next deadline (an
    /// hour past the latest `now` when nothing is scheduled).
    pub fn poll_output(&mut self) -> PresenceOutput {
        if let Some(output) = self.queue.pop_front() {
            return output;
        }
        PresenceOutput::Timeout(self.timers.first().map_or(self.now + IDLE, |(due, _)| *due))
    }

    /// Linked pairs.
    pub const fn linked_users(&self) -> usize {
        self.pairs
    }

    /// What the mirror did that produced no output.
    pub const fn stats(&self) -> MirrorStats {
        self.stats
    }

    /// An estimate of the bytes held: slots, index, timers and their heap parts (not
    /// allocator overhead).
    pub fn memory_bytes_estimate(&self) -> usize {
        let timers = self.timers.len() * (size_of::<(DateTime<Utc>, u32)>() + 8);
        size_of::<Self>() + self.slots.memory_bytes() + timers
    }

    // ---- slots ----

    fn slot(&self, user: &UserRef) -> Option<u32> {
        self.slots.find(user)
    }

    fn get(&self, slot: u32) -> Option<&UserState> {
        self.slots.get(slot)
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut UserState> {
        self.slots.get_mut(slot)
    }

    fn slot_or_insert(&mut self, user: UserRef) -> u32 {
        if let Some(slot) = self.slot(&user) {
            return slot;
        }
        self.slots.insert(UserState::new(user))
    }

    fn remove(&mut self, slot: u32) {
        self.cancel_pending(slot);
        self.slots.remove(slot);
    }

    fn cancel_pending(&mut self, slot: u32) -> Option<Pending> {
        let pending = self.get_mut(slot)?.pending.take()?;
        self.timers.remove(&(pending.due, slot));
        Some(*pending)
    }

    fn set_pending(&mut self, slot: u32, pending: Pending) {
        self.cancel_pending(slot);
        self.timers.insert((pending.due, slot));
        if let Some(state) = self.get_mut(slot) {
            state.pending = Some(Box::new(pending));
        }
    }

    /// Both slots of the pair a slot belongs to, when it is linked.
    fn pair_of(&self, slot: u32) -> Option<(u32, u32)> {
        Some((slot, self.get(slot)?.counterpart?))
    }

    /// Whether writes between a pair may happen: opted in, neither side paused.
    fn active(&self, a: u32, b: u32) -> bool {
        match (self.get(a), self.get(b)) {
            (Some(a), Some(b)) => a.mirror && !a.paused && !b.paused,
            _ => false,
        }
    }

    fn save(&mut self, slot: u32) {
        if let Some(state) = self.get(slot) {
            self.queue.push_back(PresenceOutput::Save {
                target: state.user.clone(),
                record: state.record(),
            });
        }
    }

    // ---- inputs ----

    fn link(&mut self, slack: UserRef, teams: UserRef, mirror: bool) {
        if slack.platform() != Platform::Slack || teams.platform() != Platform::Teams {
            self.stats.unknown_users += 1;
            return;
        }
        let (s, t) = (self.slot_or_insert(slack), self.slot_or_insert(teams));
        for (me, other) in [(s, t), (t, s)] {
            if let Some(old) = self.get(me).and_then(|u| u.counterpart)
                && old != other
            {
                self.detach(me);
            }
        }
        if self.get(s).and_then(|u| u.counterpart) != Some(t) {
            self.pairs += 1;
        }
        for (me, other) in [(s, t), (t, s)] {
            if let Some(state) = self.get_mut(me) {
                state.counterpart = Some(other);
                state.mirror = mirror;
            }
        }
        if !mirror {
            self.cancel_pending(s);
            self.cancel_pending(t);
        }
    }

    /// Takes a slot out of its pair, keeping both slots.
    fn detach(&mut self, slot: u32) {
        let Some((me, other)) = self.pair_of(slot) else {
            return;
        };
        self.pairs = self.pairs.saturating_sub(1);
        for s in [me, other] {
            self.cancel_pending(s);
            if let Some(state) = self.get_mut(s) {
                state.counterpart = None;
                state.mirror = false;
                state.held = None;
            }
        }
    }

    fn unlink(&mut self, user: &UserRef) {
        let Some(slot) = self.slot(user) else {
            self.stats.unknown_users += 1;
            return;
        };
        let other = self.get(slot).and_then(|u| u.counterpart);
        self.detach(slot);
        self.remove(slot);
        if let Some(other) = other {
            self.remove(other);
        }
    }

    fn changed(&mut self, user: &UserRef, presence: &Presence, now: DateTime<Utc>) {
        let Some(source) = self.slot(user) else {
            self.stats.unknown_users += 1;
            return;
        };
        let Some(state) = self.get_mut(source) else {
            return;
        };
        if state.is_echo(presence) {
            state.observe(presence);
            state.shows_ours = true;
            state.echo_expected = false;
            self.stats.echoes += 1;
            return;
        }
        if state.is_duplicate(presence) {
            self.stats.duplicates += 1;
            return;
        }
        state.observe(presence);
        state.shows_ours = false;
        let Some((source, target)) = self.pair_of(source) else {
            return;
        };
        if !self.active(source, target) {
            return;
        }
        let from = user.platform();
        let mapped = map_across(
            &self.config.teams_to_slack,
            &self.config.slack_to_teams,
            from,
            presence,
            now,
        );
        if let Some(Some(held)) = self.get_mut(target).map(|t| &mut t.held) {
            let held = &mut **held;
            // The counterpart shows "on a call": keep the latest for when the call ends.
            *held = mapped;
            return;
        }
        let Some(value) = mapped else {
            self.stats.unmapped += 1;
            // The burst's last state maps to nothing: nothing of the burst is written.
            self.cancel_pending(target);
            return;
        };
        let due = self
            .get(target)
            .and_then(|t| t.pending.as_ref())
            .map_or(now + self.coalesce, |p| p.due);
        self.set_pending(
            target,
            Pending {
                due,
                value,
                changed_at: now,
            },
        );
    }

    fn on_call(&mut self, user: &UserRef, on_call: bool, now: DateTime<Utc>) {
        let Some(slot) = self.slot(user) else {
            self.stats.unknown_users += 1;
            return;
        };
        let Some((_, target)) = self.pair_of(slot) else {
            return;
        };
        if on_call {
            self.call_started(slot, target, now);
        } else {
            self.call_ended(slot, target, now);
        }
    }

    fn call_started(&mut self, source: u32, target: u32, now: DateTime<Utc>) {
        if !self.active(source, target) || self.get(target).is_none_or(|t| t.held.is_some()) {
            return;
        }
        let waiting = self.cancel_pending(target).map(|p| p.value);
        let Some(state) = self.get_mut(target) else {
            return;
        };
        state.held = Some(Box::new(waiting));
        if state.protected() {
            self.stats.protected += 1;
            return;
        }
        // Only a value of ours is restored after the call: one the person set is theirs,
        // and once our "on a call" is gone nothing of ours is left to take down.
        state.previous = if state.shows_ours {
            state.last_written.clone()
        } else {
            None
        };
        let platform = state.platform();
        let value = on_call_value(&self.config.teams_to_slack, platform, now);
        self.write_now(target, value, now);
    }

    fn call_ended(&mut self, source: u32, target: u32, now: DateTime<Utc>) {
        let active = self.active(source, target);
        let Some(state) = self.get_mut(target) else {
            return;
        };
        let Some(held) = state.held.take() else {
            return;
        };
        let previous = state.previous.take().map(|p| *p);
        let still_ours = state.shows_ours;
        let platform = state.platform();
        if active && still_ours {
            let value = (*held).unwrap_or_else(|| match previous {
                Some(p) if p.source.origin == PresenceOrigin::Callbridge => p,
                _ => clear_value(platform),
            });
            self.write_now(target, value, now);
        } else {
            self.save(target);
        }
    }

    fn write_result(&mut self, target: &UserRef, ok: bool) {
        let Some(slot) = self.slot(target) else {
            self.stats.unknown_users += 1;
            return;
        };
        let Some(state) = self.get_mut(slot) else {
            return;
        };
        let before = state.before_write.take();
        let in_flight = std::mem::take(&mut state.in_flight);
        if ok {
            state.failing_alerted = false;
            if state.error_count == 0 {
                return;
            }
            state.error_count = 0;
        } else {
            state.error_count = state.error_count.saturating_add(1);
            // The write never happened: what shows is what showed before it.
            if in_flight {
                state.last_written = before;
            }
            state.echo_expected = false;
            if state.error_count >= FAILURES_BEFORE_ALERT && !state.failing_alerted {
                state.failing_alerted = true;
                let alert = PresenceOutput::Alert {
                    user: state.user.clone(),
                    reason: AlertReason::WritesFailing(state.error_count),
                };
                self.queue.push_back(alert);
            }
        }
        self.save(slot);
    }

    fn pause(&mut self, user: UserRef, paused: bool) {
        let slot = self.slot_or_insert(user);
        if let Some(state) = self.get_mut(slot) {
            state.paused = paused;
        }
        if paused {
            self.cancel_pending(slot);
            if let Some((_, other)) = self.pair_of(slot) {
                self.cancel_pending(other);
            }
        }
        self.save(slot);
    }

    fn restore(&mut self, target: UserRef, record: MirrorRecord) {
        let slot = self.slot_or_insert(target);
        if let Some(state) = self.get_mut(slot) {
            if let Some(value) = record
                .last_written
                .as_ref()
                .and_then(|p| p.source.fingerprint.as_ref())
                .and_then(fingerprint::value_of)
            {
                state.remember_print(value);
            }
            state.set_record(record);
        }
    }

    fn timeout(&mut self, now: DateTime<Utc>) {
        while let Some(&(due, slot)) = self.timers.first()
            && due <= now
        {
            self.timers.remove(&(due, slot));
            let pending = self.get_mut(slot).and_then(|s| s.pending.take());
            if let Some(pending) = pending {
                self.flush(slot, *pending, now);
            }
        }
    }

    // ---- writing ----

    /// A burst into `target` ended: apply the pair rules, then write.
    fn flush(&mut self, target: u32, pending: Pending, now: DateTime<Utc>) {
        let Some((target, source)) = self.pair_of(target) else {
            return;
        };
        if !self.active(source, target) {
            return;
        }
        // Both sides changed within the window: the later change wins, Teams on a tie.
        if let Some(other) = self.get(source).and_then(|s| s.pending.as_ref()) {
            let source_is_teams = self
                .get(source)
                .is_some_and(|s| s.platform() == Platform::Teams);
            let ours_wins = pending.changed_at > other.changed_at
                || (pending.changed_at == other.changed_at && source_is_teams);
            self.stats.conflicts += 1;
            if ours_wins {
                self.cancel_pending(source);
            } else {
                return;
            }
        }
        let Some(state) = self.get(target) else {
            return;
        };
        if state.protected() {
            self.stats.protected += 1;
            return;
        }
        if let Some(until) = self.admit(target, now) {
            self.set_pending(
                target,
                Pending {
                    due: until,
                    ..pending
                },
            );
            return;
        }
        self.issue(target, pending.value);
    }

    /// Writes a value now, unless the breaker holds it (then it waits for the cooldown).
    fn write_now(&mut self, target: u32, value: Presence, now: DateTime<Utc>) {
        match self.admit(target, now) {
            None => self.issue(target, value),
            Some(until) => self.set_pending(
                target,
                Pending {
                    due: until,
                    value,
                    changed_at: now,
                },
            ),
        }
    }

    /// Asks the breaker; `Some(until)` when the write must wait.
    fn admit(&mut self, target: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let limits = self.limits;
        let state = self.get_mut(target)?;
        let breaker = state.breaker.get_or_insert_with(Box::<Breaker>::default);
        match breaker.admit(now, limits) {
            Admit::Allowed => None,
            Admit::Blocked(until) => Some(until),
            Admit::Tripped(until) => {
                let alert = PresenceOutput::Alert {
                    user: state.user.clone(),
                    reason: AlertReason::BreakerTripped,
                };
                self.stats.breaker_trips += 1;
                self.queue.push_back(alert);
                Some(until)
            }
        }
    }

    /// Stamps a value with a fresh fingerprint and emits the write and the record.
    fn issue(&mut self, target: u32, mut value: Presence) {
        self.writes_issued += 1;
        let counter = self.writes_issued;
        let Some(state) = self.get_mut(target) else {
            return;
        };
        let print = fingerprint::derive(counter, &state.user);
        state.remember_print(print);
        value.source = PresenceSource {
            platform: state.platform(),
            origin: PresenceOrigin::Callbridge,
            fingerprint: fingerprint::render(print),
        };
        state.before_write = state.last_written.replace(Box::new(value.clone()));
        state.in_flight = true;
        state.shows_ours = true;
        state.echo_expected = true;
        let write = PresenceOutput::Write {
            target: state.user.clone(),
            presence: value,
        };
        self.queue.push_back(write);
        self.save(target);
    }
}
