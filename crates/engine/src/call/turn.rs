//! One input's handling: the time it happened, the rules, and the outputs it produces.

use chrono::{DateTime, Utc};

use super::CallConfig;
use super::io::Output;

/// What every transition needs besides the call itself.
pub(super) struct Turn<'a> {
    /// When the input happened.
    pub(super) now: DateTime<Utc>,
    /// The timing rules.
    pub(super) config: &'a CallConfig,
    /// Outputs produced so far; discarded if the input is refused.
    pub(super) out: Vec<Output>,
}

impl Turn<'_> {
    /// Queues an output.
    pub(super) fn emit(&mut self, output: Output) {
        self.out.push(output);
    }

    /// Queues an output if there is one.
    pub(super) fn emit_some(&mut self, output: Option<Output>) {
        self.out.extend(output);
    }
}
