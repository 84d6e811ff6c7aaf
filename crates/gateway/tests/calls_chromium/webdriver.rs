//! A headless Chromium driven through chromedriver over the W3C WebDriver protocol: the few
//! commands the browser scenario needs (open a page, click an element, run a script), spoken
//! as plain JSON over HTTP. Its fake microphone plays a tone file, and its permission prompts
//! are answered yes, so a page's `getUserMedia` gets the tone.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

/// Debian's `chromium` package.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver` package.
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to start, and Chromium to start or load a page, on a loaded
/// two-core machine.
const SLOW: Duration = Duration::from_secs(30);
/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one Chromium session. Dropping it ends the session (closing
/// Chromium) and stops chromedriver, also when a test fails half-way.
pub(crate) struct Browser {
    /// The chromedriver process.
    driver: Child,
    /// Where chromedriver listens.
    addr: SocketAddr,
    http: reqwest::Client,
    /// The WebDriver session, until it is ended.
    session: Option<String>,
    /// The tone file and Chromium's profile, removed with the browser.
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose microphone plays `tone_hz`.
    ///
    /// # Panics
    /// When Chromium or chromedriver is not installed: the scenario cannot run without them.
    pub(crate) async fn start(tone_hz: f64) -> anyhow::Result<Self> {
        for (binary, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is required for the browser scenario: install the Debian packages \
                 `chromium` and `chromium-driver` (scripts/install-deps.sh does); missing: {package}"
            );
        }
        let profile = tempfile::tempdir().context("a directory for the browser profile")?;
        let wav = profile.path().join("tone.wav");
        std::fs::write(&wav, tone_wav(tone_hz, 60)).context("the tone file")?;
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("chromedriver starts")?;
        let http = reqwest::Client::builder()
            .timeout(2 * SLOW)
            .build()
            .context("an HTTP client")?;
        let mut browser = Self {
            driver,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            http,
            session: None,
            profile,
        };
        browser.wait_until_ready().await?;
        let profile_dir = browser.profile.path().join("profile");
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--window-size=1280,1500".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
            "--use-fake-device-for-media-stream".to_owned(),
            format!("--use-file-for-fake-audio-capture={}", wav.display()),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            format!("--user-data-dir={}", profile_dir.display()),
        ];
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "pageLoadStrategy": "normal",
                    "timeouts": { "pageLoad": SLOW.as_millis() as u64, "script": SLOW.as_millis() as u64, "implicit": 0 },
                    "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
                }
            }
        });
        let created = browser
            .command(reqwest::Method::POST, "/session", Some(capabilities))
            .await
            .context("Chromium starts")?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| anyhow!("no session id in {created}"))?;
        browser.session = Some(id.to_owned());
        Ok(browser)
    }

    /// Opens `url` and waits for it to load.
    pub(crate) async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.session_command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await
            .map(drop)
    }

    /// Opens `url` in a new tab and switches to it; returns the tab's handle.
    #[allow(dead_code, reason = "not every scenario uses tabs")]
    pub(crate) async fn open_tab(&self, url: &str) -> anyhow::Result<String> {
        let created = self
            .session_command(
                reqwest::Method::POST,
                "/window/new",
                json!({ "type": "tab" }),
            )
            .await?;
        let handle = created["handle"]
            .as_str()
            .ok_or_else(|| anyhow!("no handle in {created}"))?
            .to_owned();
        self.switch_to(&handle).await?;
        self.open(url).await?;
        Ok(handle)
    }

    /// The current tab's handle.
    #[allow(dead_code, reason = "not every scenario uses tabs")]
    pub(crate) async fn tab(&self) -> anyhow::Result<String> {
        let handle = self
            .session_command(reqwest::Method::GET, "/window", Value::Null)
            .await?;
        handle
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no handle in {handle}"))
    }

    /// Makes the tab `handle` the one commands go to.
    #[allow(dead_code, reason = "not every scenario uses tabs")]
    pub(crate) async fn switch_to(&self, handle: &str) -> anyhow::Result<()> {
        self.session_command(
            reqwest::Method::POST,
            "/window",
            json!({ "handle": handle }),
        )
        .await
        .map(drop)
    }

    /// Closes the current tab, as a person closing it mid-call; commands then need
    /// [`switch_to`](Self::switch_to) another tab.
    #[allow(dead_code, reason = "not every scenario closes tabs")]
    pub(crate) async fn close_tab(&self) -> anyhow::Result<()> {
        self.session_command(reqwest::Method::DELETE, "/window", Value::Null)
            .await
            .map(drop)
    }

    /// Clicks the element that `css` selects.
    pub(crate) async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.session_command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            json!({}),
        )
        .await
        .with_context(|| format!("click {css}"))
        .map(drop)
    }

    /// Types `text` into the element that `css` selects, key by key.
    #[allow(dead_code, reason = "not every scenario types")]
    pub(crate) async fn type_text(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let element = self.find(css).await?;
        self.session_command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await
        .with_context(|| format!("type into {css}"))
        .map(drop)
    }

    /// Saves a PNG of the page as it shows now.
    #[allow(dead_code, reason = "not every scenario keeps screenshots")]
    pub(crate) async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        use base64::Engine as _;
        let shot = self
            .session_command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(
                shot.as_str()
                    .ok_or_else(|| anyhow!("no screenshot in the answer"))?,
            )
            .context("a base64 screenshot")?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// The element that `css` selects, as WebDriver names it.
    async fn find(&self, css: &str) -> anyhow::Result<String> {
        let found = self
            .session_command(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await
            .with_context(|| format!("find {css}"))?;
        found[ELEMENT]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no element reference in {found}"))
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    pub(crate) async fn script(&self, script: &str) -> anyhow::Result<Value> {
        self.session_command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// Polls chromedriver's status until it accepts sessions.
    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + SLOW;
        loop {
            if let Ok(status) = self.command(reqwest::Method::GET, "/status", None).await
                && status["ready"].as_bool() == Some(true)
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("chromedriver was not ready within {SLOW:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A command of the current session.
    async fn session_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let session = self
            .session
            .as_deref()
            .ok_or_else(|| anyhow!("no browser session"))?;
        let body = (!body.is_null()).then_some(body);
        self.command(method, &format!("/session/{session}{path}"), body)
            .await
    }

    /// One WebDriver command: its `value`, or the error WebDriver reported.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.addr));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.context("chromedriver answers")?;
        let status = response.status();
        let mut answer: Value = response.json().await.context("a WebDriver answer")?;
        let value = answer["value"].take();
        if !status.is_success() {
            bail!(
                "WebDriver {status}: {} {}",
                value["error"].as_str().unwrap_or("error"),
                value["message"].as_str().unwrap_or("")
            );
        }
        Ok(value)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            // Ending the session closes Chromium; chromedriver leaves it running otherwise.
            // Plain blocking HTTP: this also runs while a failed test unwinds.
            end_session(self.addr, &session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}`, best effort.
fn end_session(addr: SocketAddr, session: &str) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(SLOW));
    let request = format!(
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        // Chromium is closed once the answer comes; chromedriver may keep the connection open
        // after it, so read the answer's length rather than to the end of the stream.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 1024];
        while !is_whole_answer(&answer) {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// Whether `answer` holds a whole HTTP answer: its head and as much body as it declares.
fn is_whole_answer(answer: &[u8]) -> bool {
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    answer.len() >= head_end + 4 + length
}

/// A loopback port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A mono 48 kHz 16-bit WAV file of a sine tone at about -10 dBFS.
fn tone_wav(hz: f64, seconds: u32) -> Vec<u8> {
    let rate = 48_000u32;
    let samples = rate * seconds;
    let mut wav = Vec::with_capacity(44 + samples as usize * 2);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples * 2).to_le_bytes());
    for i in 0..samples {
        let phase = 2.0 * std::f64::consts::PI * hz * f64::from(i) / f64::from(rate);
        wav.extend_from_slice(&((10_000.0 * phase.sin()) as i16).to_le_bytes());
    }
    wav
}
