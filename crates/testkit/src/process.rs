//! The gateway as a separate process (the `callbridge serve` binary), for what only a real
//! process shows: `kill -9` mid-call and a restart on the same database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::store::TestStore;

/// A `callbridge serve` child process.
pub(crate) struct GatewayProcess {
    binary: PathBuf,
    config: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
}

impl GatewayProcess {
    /// Writes a configuration (listening on `addr`, on `store`'s database and key, plus
    /// `sections`) next to `dir` and starts `binary serve` with it, waiting until it is ready.
    ///
    /// # Panics
    /// When the process cannot start or never becomes ready.
    pub(crate) async fn start(
        binary: &Path,
        dir: &Path,
        addr: SocketAddr,
        store: &TestStore,
        sections: &str,
    ) -> Self {
        let config = dir.join("callbridge.toml");
        let text = format!(
            "[server]\nlisten = \"{addr}\"\nshutdown_grace = \"2s\"\n\
             [store]\nurl = \"{url}\"\n\
             [secrets]\nkeys = [\"{key}\"]\n\
             [log]\nformat = \"pretty\"\nlevel = \"warn\"\n\
             {sections}",
            url = store.url(),
            key = store.key_spec(),
        );
        std::fs::write(&config, text).expect("the configuration is written");
        let mut process = Self {
            binary: binary.to_owned(),
            config,
            addr,
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

    async fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the gateway binary starts");
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
