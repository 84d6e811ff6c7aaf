//! The gateway as a separate process (the `callbridge serve` binary), for what only a real
//! process shows: `kill -9` mid-call and a restart on the same database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::store::TestStore;

/// What the child process logs, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProcessLogs {
    /// Readable lines at `warn`, on this process's stderr (the test's output).
    Quiet,
    /// JSON lines at `debug` for callbridge's crates (`info` for the rest), written to
    /// [`GatewayProcess::LOG_FILE`] beside the configuration, for a test to read.
    CapturedJson,
}

/// A `callbridge serve` child process.
pub(crate) struct GatewayProcess {
    binary: PathBuf,
    config: PathBuf,
    addr: SocketAddr,
    /// Where stderr goes when logs are captured.
    log_file: Option<PathBuf>,
    child: Option<Child>,
}

impl GatewayProcess {
    /// The file, beside the configuration, that receives the process's stderr when its logs
    /// are [captured](ProcessLogs::CapturedJson).
    pub(crate) const LOG_FILE: &str = "gateway.log";

    /// Writes a configuration (listening on `addr`, on `store`'s database and key, logging
    /// as `logs` says, plus `sections`) next to `dir` and starts `binary serve` with it,
    /// waiting until it is ready.
    ///
    /// # Panics
    /// When the process cannot start or never becomes ready.
    pub(crate) async fn start(
        binary: &Path,
        dir: &Path,
        addr: SocketAddr,
        store: &TestStore,
        sections: &str,
        logs: ProcessLogs,
    ) -> Self {
        let config = dir.join("callbridge.toml");
        let (format, level, log_file) = match logs {
            ProcessLogs::Quiet => ("pretty", "warn", None),
            ProcessLogs::CapturedJson => (
                "json",
                "info,callbridge=debug",
                Some(dir.join(Self::LOG_FILE)),
            ),
        };
        let text = format!(
            "[server]\nlisten = \"{addr}\"\nshutdown_grace = \"2s\"\n\
             [store]\nurl = \"{url}\"\n\
             [secrets]\nkeys = [\"{key}\"]\n\
             [log]\nformat = \"{format}\"\nlevel = \"{level}\"\n\
             {sections}",
            url = store.url(),
            key = store.key_spec(),
        );
        std::fs::write(&config, text).expect("the configuration is written");
        let mut process = Self {
            binary: binary.to_owned(),
            config,
            addr,
            log_file,
            child: None,
        };
        process.spawn().await;
        process
    }

    /// Kills the process with SIGKILL (no drain, no cleanup) and waits for it to die.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM (a drain) and waits for the process to exit.
    pub(crate) fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// Starts the process again on the same configuration and database.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }

    /// The file the process's stderr goes to, when its logs are captured.
    pub(crate) fn log_file(&self) -> Option<&Path> {
        self.log_file.as_deref()
    }

    async fn spawn(&mut self) {
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match &self.log_file {
            None => {
                command.stderr(Stdio::inherit());
            }
            Some(path) => {
                // Appended to, so a restart keeps what the first run logged; `RUST_LOG` from
                // the test's environment would override the configured level.
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("the log file opens");
                command.stderr(Stdio::from(file)).env_remove("RUST_LOG");
            }
        }
        let child = command.spawn().expect("the gateway binary starts");
        self.child = Some(child);
        let http = reqwest::Client::new();
        let ready = format!("http://{}/readyz", self.addr);
        for _ in 0..600 {
            if let Ok(response) = http.get(&ready).send().await
                && response.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the gateway process never became ready");
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
