//! Why a value could not become one of the model's types.

/// A value that does not parse into a model type. Always the caller's input at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The text does not have the shape the type requires.
    #[error("{kind}: {reason} (got {len} characters)")]
    Malformed {
        /// Which type was being parsed, e.g. `SlackUserId`.
        kind: &'static str,
        /// What rule the text broke, e.g. `must start with U or W`.
        reason: &'static str,
        /// Length of the rejected text; the text itself may be personal data, so it is not kept.
        len: usize,
    },
}

impl ParseError {
    pub(crate) fn malformed(kind: &'static str, reason: &'static str, text: &str) -> Self {
        Self::Malformed {
            kind,
            reason,
            len: text.chars().count(),
        }
    }
}
