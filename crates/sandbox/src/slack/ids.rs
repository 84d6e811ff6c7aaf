//! Identifiers and message timestamps in Slack's formats (slack-api.md §1, "ID prefixes").

use std::sync::atomic::{AtomicU32, Ordering};

use rand::Rng;

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A fresh id such as `R0E69JAIFQ`: the prefix, then ten upper-case letters and digits.
/// Slack documents ids as opaque, so only the prefix carries meaning.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", random_from(ID_ALPHABET, 10))
}

/// A random secret-looking string (token tails, OAuth codes, response URL keys).
pub(crate) fn secret(len: usize) -> String {
    random_from(SECRET_ALPHABET, len)
}

/// A numeric string, as in the `12345.67890.abcdef` parts of trigger ids.
pub(crate) fn digits(len: usize) -> String {
    random_from(b"0123456789", len)
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A trigger id in the documented `"132456.7890123.abcdef"` shape (§11).
pub(crate) fn trigger_id() -> String {
    format!(
        "{}.{}.{}",
        digits(12),
        digits(11),
        hex::encode(rand::rng().random::<[u8; 16]>())
    )
}

/// Mints message timestamps `"<unix>.<6 digits>"`, unique within one sandbox even when many
/// messages share a second.
#[derive(Debug, Default)]
pub(crate) struct TsMinter {
    counter: AtomicU32,
}

impl TsMinter {
    /// The next timestamp at sandbox time `unix`.
    pub(crate) fn next(&self, unix: i64) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) % 1_000_000;
        format!("{unix}.{n:06}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_their_prefix_and_alphabet() {
        let id = new_id("R");
        assert!(id.starts_with('R'));
        assert_eq!(id.len(), 11);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn timestamps_are_unique_within_a_second() {
        let minter = TsMinter::default();
        let a = minter.next(1_700_000_000);
        let b = minter.next(1_700_000_000);
        assert_ne!(a, b);
        assert!(a.starts_with("1700000000."));
        assert_eq!(trigger_id().split('.').count(), 3);
    }
}
