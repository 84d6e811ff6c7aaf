//! Events the media core reports to its owner (the call engine, via the shell).

use std::time::Duration;

/// Which side of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The first leg (by convention the browser/WebRTC side).
    A,
    /// The second leg (by convention the SIP/Teams side).
    B,
}

impl Side {
    /// The other leg.
    pub const fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    /// Array index (A = 0, B = 1).
    pub const fn index(self) -> usize {
        match self {
            Self::A => 0,
            Self::B => 1,
        }
    }
}

/// Something worth telling the call engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// `silent` sends nothing while the other leg flows: one-way audio.
    OneWayAudio {
        /// The leg that went silent.
        silent: Side,
    },
    /// The leg that was silent flows again.
    OneWayAudioCleared {
        /// The leg that recovered.
        leg: Side,
    },
    /// No RTP or RTCP from the leg for the applicable timeout.
    MediaTimeout {
        /// The leg that timed out.
        leg: Side,
        /// Whether the leg was on hold (the longer timeout applied).
        held: bool,
    },
    /// A DTMF digit completed (End bit seen) and was relayed.
    Dtmf {
        /// The leg it came from.
        from: Side,
        /// The digit.
        digit: char,
        /// Its duration as signalled.
        duration: Duration,
    },
    /// The peer on a leg changed its SSRC (stream restarted); numbering towards the other leg
    /// continued seamlessly.
    SourceChanged {
        /// The leg whose peer changed SSRC.
        leg: Side,
    },
}
