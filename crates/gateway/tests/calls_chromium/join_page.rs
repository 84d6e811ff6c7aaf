//! The join page as a test reads it in a real browser: its state, the error it shows, and the
//! frequency of the call audio it plays.

use crate::webdriver::Browser;

/// The page's state and any error it shows, as the page's script sees them.
const PAGE_STATE: &str = "return [document.body.dataset.state, \
     document.getElementById('error').textContent];";
/// The dominant frequency of the call audio the page plays (its `#remote` element), measured by
/// an analyser attached on the first call; `null` until there is a stream and sound.
// Chrome only feeds remote WebRTC audio to Web Audio while an element plays it, as #remote does.
#[allow(dead_code, reason = "not every scenario listens")]
const PAGE_HEARS: &str = "const remote = document.getElementById('remote'); \
     if (!remote.srcObject) return null; \
     if (!window.testEar) { \
       const ctx = new AudioContext(); const analyser = ctx.createAnalyser(); \
       analyser.fftSize = 16384; \
       ctx.createMediaStreamSource(remote.srcObject).connect(analyser); \
       window.testEar = { ctx, analyser }; \
     } \
     const { ctx, analyser } = window.testEar; ctx.resume(); \
     const bins = new Float32Array(analyser.frequencyBinCount); \
     analyser.getFloatFrequencyData(bins); \
     let peak = 1; \
     for (let i = 2; i < bins.length - 1; i++) if (bins[i] > bins[peak]) peak = i; \
     const [l, c, r] = [bins[peak - 1], bins[peak], bins[peak + 1]]; \
     if (!isFinite(c) || c < -90) return null; \
     const shift = 0.5 * (l - r) / (l - 2 * c + r); \
     return (peak + (isFinite(shift) ? shift : 0)) * ctx.sampleRate / analyser.fftSize;";

/// The page's state and the error it shows; a state of `unreadable: …` when WebDriver fails.
pub(crate) async fn page_state(browser: &Browser) -> (String, String) {
    match browser.script(PAGE_STATE).await {
        Ok(value) => {
            let text = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
            (text(0), text(1))
        }
        Err(error) => (format!("unreadable: {error:#}"), String::new()),
    }
}

/// The frequency the page hears, or why it cannot tell.
#[allow(dead_code, reason = "not every scenario listens")]
pub(crate) async fn page_hears(browser: &Browser) -> Result<Option<f64>, String> {
    let value = browser
        .script(PAGE_HEARS)
        .await
        .map_err(|error| format!("{error:#}"))?;
    Ok(value.as_f64())
}
