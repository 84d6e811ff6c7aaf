//! What can go wrong in the store, sorted by whose fault it is.

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be reached or timed out; retrying later may succeed.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The write conflicts with what is stored (a CDR already written, a link already taken).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The caller asked for something the store will not do, such as deleting by an empty
    /// prefix; a bug on the caller's side.
    #[error("refused: {0}")]
    Refused(&'static str),
    /// The operator's configuration is unusable (bad URL, missing or malformed key).
    #[error("store misconfigured: {0}")]
    Misconfigured(String),
    /// A sealed secret does not open: tampered, or sealed under a key no longer configured.
    #[error("secret {name} cannot be opened: {reason}")]
    SecretUnreadable {
        /// Which stored secret (table and key, never the value).
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// A stored row does not decode into the model: written by a newer version, or corrupted.
    #[error("stored {what} is corrupt: {reason}")]
    Corrupt {
        /// Which record kind.
        what: &'static str,
        /// Why it does not decode.
        reason: String,
    },
    /// The database rejected a statement for a reason that is a bug on our side.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether retrying the same operation later can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub(crate) fn corrupt(what: &'static str, reason: &dyn std::fmt::Display) -> Self {
        Self::Corrupt {
            what,
            reason: reason.to_string(),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict("a record with this key already exists")
            }
            _ => Self::Database(error),
        }
    }
}
