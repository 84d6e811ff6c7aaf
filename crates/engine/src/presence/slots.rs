//! Where the mirror keeps its users: numbered slots in fixed-size chunks, found by user
//! through an index of 64-bit hashes.
//!
//! Sized for a million pairs: chunks grow the storage a chunk at a time (no doubling that
//! leaves up to half the capacity unused, no copying of every user on growth), and the
//! index holds a hash and a slot number per user instead of a second copy of the user's
//! ids. Two users whose hashes collide (vanishingly rare) are found through a small spill
//! map keyed by the full id.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use callbridge_model::UserRef;

use super::fingerprint::Fnv;
use super::user::{UserState, user_ref_heap};

/// Slots per chunk.
const CHUNK: usize = 4_096;

/// The users, by slot and by id.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    chunks: Vec<Vec<Option<UserState>>>,
    free: Vec<u32>,
    index: HashMap<u64, u32>,
    spill: HashMap<UserRef, u32>,
}

fn key(user: &UserRef) -> u64 {
    let mut hasher = Fnv::new();
    user.hash(&mut hasher);
    hasher.finish()
}

impl Slots {
    pub(crate) fn get(&self, slot: u32) -> Option<&UserState> {
        let slot = slot as usize;
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)?.as_ref()
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut UserState> {
        let slot = slot as usize;
        self.chunks
            .get_mut(slot / CHUNK)?
            .get_mut(slot % CHUNK)?
            .as_mut()
    }

    /// The slot of `user`, if it has one.
    pub(crate) fn find(&self, user: &UserRef) -> Option<u32> {
        if let Some(&slot) = self.index.get(&key(user))
            && self.get(slot).is_some_and(|s| s.user == *user)
        {
            return Some(slot);
        }
        self.spill.get(user).copied()
    }

    /// Stores a new user (not yet stored) and returns its slot.
    pub(crate) fn insert(&mut self, state: UserState) -> u32 {
        let hash = key(&state.user);
        let user = (self.index.contains_key(&hash)).then(|| state.user.clone());
        let slot = if let Some(slot) = self.free.pop() {
            let at = slot as usize;
            if let Some(place) = self
                .chunks
                .get_mut(at / CHUNK)
                .and_then(|c| c.get_mut(at % CHUNK))
            {
                *place = Some(state);
            }
            slot
        } else {
            if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                self.chunks.push(Vec::with_capacity(CHUNK));
            }
            let full = (self.chunks.len() - 1) * CHUNK;
            let chunk = self.chunks.last_mut().map_or(0, |c| {
                c.push(Some(state));
                c.len() - 1
            });
            u32::try_from(full + chunk).unwrap_or(u32::MAX)
        };
        match user {
            Some(user) => {
                self.spill.insert(user, slot);
            }
            None => {
                self.index.insert(hash, slot);
            }
        }
        slot
    }

    /// Removes the user in `slot`.
    pub(crate) fn remove(&mut self, slot: u32) -> Option<UserState> {
        let at = slot as usize;
        let state = self
            .chunks
            .get_mut(at / CHUNK)?
            .get_mut(at % CHUNK)?
            .take()?;
        let hash = key(&state.user);
        if self.index.get(&hash) == Some(&slot) {
            self.index.remove(&hash);
            // A user that collided with this one takes its place in the index.
            let promoted = self
                .spill
                .iter()
                .find(|(user, _)| key(user) == hash)
                .map(|(user, slot)| (user.clone(), *slot));
            if let Some((user, other)) = promoted {
                self.spill.remove(&user);
                self.index.insert(hash, other);
            }
        } else {
            self.spill.remove(&state.user);
        }
        self.free.push(slot);
        Some(state)
    }

    /// An estimate of the bytes held, heap parts included (not allocator overhead).
    pub(crate) fn memory_bytes(&self) -> usize {
        let chunks = self
            .chunks
            .iter()
            .map(|c| c.capacity() * size_of::<Option<UserState>>())
            .sum::<usize>()
            + self.chunks.capacity() * size_of::<Vec<Option<UserState>>>();
        let users = self
            .chunks
            .iter()
            .flatten()
            .flatten()
            .map(UserState::heap_bytes)
            .sum::<usize>();
        // hashbrown: one control byte per bucket besides the entry.
        let index = self.index.capacity() * (size_of::<(u64, u32)>() + 1)
            + self.spill.capacity() * (size_of::<(UserRef, u32)>() + 1)
            + self.spill.keys().map(user_ref_heap).sum::<usize>();
        chunks + users + index + self.free.capacity() * size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use callbridge_model::{SlackTeamId, SlackUserId};

    use super::*;

    fn user(n: u32) -> UserRef {
        UserRef::Slack {
            team: "T0001".parse::<SlackTeamId>().unwrap(),
            user: format!("U{n:04}").parse::<SlackUserId>().unwrap(),
        }
    }

    #[test]
    fn users_are_found_across_chunks_and_slots_are_reused() {
        let mut slots = Slots::default();
        let count = u32::try_from(CHUNK).unwrap() + 10;
        for n in 0..count {
            assert_eq!(slots.insert(UserState::new(user(n))), n);
        }
        for n in 0..count {
            assert_eq!(slots.find(&user(n)), Some(n));
        }
        let removed = slots.remove(7).unwrap();
        assert_eq!(removed.user, user(7));
        assert_eq!(slots.find(&user(7)), None);
        assert_eq!(slots.insert(UserState::new(user(99_999))), 7);
        assert_eq!(slots.find(&user(99_999)), Some(7));
    }

    #[test]
    fn a_colliding_hash_is_found_through_the_spill_map() {
        let mut slots = Slots::default();
        let (a, b) = (user(1), user(2));
        let first = slots.insert(UserState::new(a.clone()));
        // Force a collision: index b's hash at a's slot, as if both hashed alike.
        let second = slots.insert(UserState::new(b.clone()));
        let hash_b = key(&b);
        slots.index.remove(&hash_b);
        slots.spill.insert(b.clone(), second);
        slots.index.insert(hash_b, first);
        assert_eq!(slots.find(&a), Some(first));
        assert_eq!(slots.find(&b), Some(second));
    }
}
