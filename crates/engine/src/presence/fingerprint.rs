//! Ownership fingerprints for callbridge's writes: `cb1:` and 16 hex digits, derived from a
//! per-mirror counter and the target, so they are unique per write and reproducible without
//! drawing randomness (a sans-IO core may not).

use std::hash::{Hash, Hasher};

use callbridge_model::{OwnershipFingerprint, UserRef};

/// FNV-1a, 64 bits: stable across releases and processes, unlike the std hasher.
pub(crate) struct Fnv(u64);

impl Fnv {
    /// A hasher at FNV's offset basis.
    pub(crate) const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The SplitMix64 finaliser: spreads every input bit over the output.
const fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The fingerprint value for the `counter`-th write, to `target`.
pub(crate) fn derive(counter: u64, target: &UserRef) -> u64 {
    let mut hasher = Fnv::new();
    target.hash(&mut hasher);
    mix(counter.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ hasher.finish())
}

/// The wire form of a fingerprint value.
pub(crate) fn render(value: u64) -> Option<OwnershipFingerprint> {
    OwnershipFingerprint::parse(&format!("cb1:{value:016x}")).ok()
}

/// The value of a fingerprint in callbridge's form; `None` for any other form.
pub(crate) fn value_of(fingerprint: &OwnershipFingerprint) -> Option<u64> {
    let hex = fingerprint.as_str().strip_prefix("cb1:")?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use callbridge_model::{SlackTeamId, SlackUserId};

    use super::*;

    fn user(id: &str) -> UserRef {
        UserRef::Slack {
            team: "T0001".parse::<SlackTeamId>().unwrap(),
            user: id.parse::<SlackUserId>().unwrap(),
        }
    }

    #[test]
    fn fingerprints_are_reproducible_distinct_and_round_trip() {
        let (a, b) = (user("U0001"), user("U0002"));
        assert_eq!(derive(1, &a), derive(1, &a));
        assert_ne!(derive(1, &a), derive(2, &a));
        assert_ne!(derive(1, &a), derive(1, &b));
        let print = render(derive(7, &a)).unwrap();
        assert_eq!(print.as_str().len(), 20);
        assert_eq!(value_of(&print), Some(derive(7, &a)));
    }
}
