//! What the media core tells the call driver about a bridged call, in the model's ids.

use std::time::Duration;

use callbridge_model::{CallId, LegId};

/// A media event of a bridged call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaNotice {
    /// No media from a leg for longer than its timeout: the call should end.
    Timeout {
        /// The call.
        call: CallId,
    },
    /// `leg` sends nothing while the other leg flows: one-way audio.
    OneWayAudio {
        /// The call.
        call: CallId,
        /// The silent leg.
        leg: LegId,
    },
    /// `leg`, earlier silent, flows again.
    OneWayAudioCleared {
        /// The call.
        call: CallId,
        /// The recovered leg.
        leg: LegId,
    },
    /// A DTMF digit from `leg` completed and was relayed to the other leg.
    Dtmf {
        /// The call.
        call: CallId,
        /// The leg it came from.
        leg: LegId,
        /// The digit.
        digit: char,
        /// Its duration as signalled.
        duration: Duration,
    },
}
