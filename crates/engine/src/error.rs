//! Why the engine refused an input, sorted by whose fault it is.

/// An input the engine could not act on. The engine's state is unchanged when one is returned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The input names a call the engine does not hold (ended, or never known): the caller's
    /// information is stale, nothing to do.
    #[error("no such call")]
    UnknownCall,
    /// The input does not fit the call's state (an answer for a leg never placed).
    #[error("input does not fit the call's state: {0}")]
    OutOfOrder(&'static str),
    /// A bug in the gateway's use of the engine.
    #[error("engine misuse: {0}")]
    Misuse(&'static str),
}
