//! How a virtual Teams user's phone reacts to calls, and the record of each call.

use serde::{Deserialize, Serialize};

use super::media::{AudioSource, MediaHandle};

/// What the phone does when it rings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// Answer after this many seconds of ringing.
    AfterSecs {
        /// Ringing time.
        secs: f64,
    },
    /// Ring, then decline (603) after this many seconds.
    Decline {
        /// Ringing time.
        secs: f64,
    },
    /// Already in a call: 486 at once.
    Busy,
    /// Ring until the proxy gives up (480 after `ring_timeout_secs`).
    NoAnswer,
    /// Do not disturb: 480 at once, nothing rings.
    DoNotDisturb,
    /// Ring until a person answers or declines
    /// ([`answer_call`](crate::microsoft::MicrosoftState::answer_call),
    /// [`decline_call`](crate::microsoft::MicrosoftState::decline_call)), or until the proxy
    /// gives up (480 after `ring_timeout_secs`).
    Manual,
}

/// Play back what the phone hears, so a person on the other end hears themselves.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Echo {
    /// How long after hearing something the phone plays it back, in milliseconds.
    pub delay_ms: u64,
    /// Play the speech fixture once before echoing (a spoken prompt).
    pub prompt_first: bool,
}

impl Default for Echo {
    fn default() -> Self {
        Self {
            delay_ms: 400,
            prompt_first: false,
        }
    }
}

/// A phone's configured behaviour.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhoneBehaviour {
    /// How it answers.
    pub answer: Answer,
    /// Teams endpoints that ring (one 180 with its own To-tag each).
    pub ringing_devices: u8,
    /// Whether a 183 with SDP (early media) precedes the answer.
    pub early_media: bool,
    /// Hang up this many seconds after answering.
    pub hang_up_after_secs: Option<f64>,
    /// Put the call on hold (`a=inactive` re-INVITE) this many seconds after answering.
    pub hold_after_secs: Option<f64>,
    /// RFC 4733 digits sent one second after answering.
    pub dtmf: Option<String>,
    /// The tone played into the call, in Hz (`None`: silence, unless `speech`).
    pub tone_hz: Option<f64>,
    /// Play the generated speech fixture ([`speech_fixture`](super::audio::speech_fixture))
    /// instead of the tone.
    pub speech: bool,
    /// Tone level in dBFS.
    pub tone_dbfs: f64,
    /// How long the proxy lets a phone ring before 480.
    pub ring_timeout_secs: f64,
    /// Echo what the phone hears instead of playing the tone or speech.
    pub echo: Option<Echo>,
}

impl Default for PhoneBehaviour {
    fn default() -> Self {
        Self {
            answer: Answer::AfterSecs { secs: 1.0 },
            ringing_devices: 1,
            early_media: false,
            hang_up_after_secs: None,
            hold_after_secs: None,
            dtmf: None,
            tone_hz: Some(1000.0),
            speech: false,
            tone_dbfs: -12.0,
            ring_timeout_secs: 30.0,
            echo: None,
        }
    }
}

impl PhoneBehaviour {
    pub(crate) fn audio(&self, sample_rate: u32) -> AudioSource {
        if let Some(echo) = self.echo {
            return AudioSource::Echo {
                delay: std::time::Duration::from_millis(echo.delay_ms),
                prompt: echo
                    .prompt_first
                    .then(|| std::sync::Arc::new(super::audio::speech_fixture(sample_rate))),
            };
        }
        if self.speech {
            return AudioSource::Samples(std::sync::Arc::new(super::audio::speech_fixture(
                sample_rate,
            )));
        }
        match self.tone_hz {
            Some(frequency) => AudioSource::Tone {
                frequency,
                level_dbfs: self.tone_dbfs,
            },
            None => AudioSource::Silence,
        }
    }
}

/// Which side started the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallDirection {
    /// The SBC called a Teams user.
    Inbound,
    /// A Teams user dialled out through the SBC.
    Outbound,
}

/// One call as the Teams side saw it.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    /// SIP Call-ID.
    pub call_id: String,
    /// Which proxy carried it (`sip`, `sip2`, `sip3`).
    pub proxy: String,
    /// The Teams user's object id.
    pub user_id: String,
    /// Direction.
    pub direction: CallDirection,
    /// The other party's number.
    pub remote_number: String,
    /// The other party's display name, if their side sent one (untrusted text).
    pub remote_name: Option<String>,
    /// `ringing`, `answered`, `held`, `ended`, or the final failure (`busy`, `declined`,
    /// `no_answer`, `cancelled`, `dnd`, `failed_<code>`).
    pub state: String,
    /// The To-tags of the 180s sent (inbound) or received (outbound).
    pub ringing_tags: Vec<String>,
    /// When the call was answered, on the sandbox clock.
    pub answered_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The audio stream once answered.
    #[serde(skip)]
    pub media: Option<MediaHandle>,
}
