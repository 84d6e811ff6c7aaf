//! The gateway as `callbridge serve` builds it (configuration parsed from TOML, adapters
//! mounted, event loop running), served on an already bound listener until stopped. Shared by
//! every world, which only adds its platform's configuration section.

use std::net::SocketAddr;

use callbridge::config::Config;
use callbridge::serve::{Gateway, platforms};
use callbridge_store::{KeyId, SecretKey};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::store::TestStore;

/// A gateway serving on a spawned task.
pub(crate) struct ServedGateway {
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl ServedGateway {
    /// Parses the configuration (the common sections plus `platform_sections`), builds the
    /// adapters with their tokens in `store`, mounts them and serves on `listener`.
    ///
    /// # Panics
    /// When the configuration is invalid or an adapter cannot start: the test cannot run.
    pub(crate) async fn start(
        listener: TcpListener,
        platform_sections: &str,
        store: &TestStore,
    ) -> Self {
        let addr = listener.local_addr().expect("the bound address");
        let config = config(addr, platform_sections);
        let platforms = platforms(&config, &store.store)
            .await
            .expect("the adapters start");
        let gateway = Gateway::with_listener(listener, &config, store.store.clone())
            .mount(platforms)
            .await
            .expect("the gateway mounts its adapters");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(error) = gateway.run(shutdown).await {
                panic!("the gateway stopped with an error: {error}");
            }
        });
        Self {
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops the gateway and waits for it.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = served.await;
        }
    }
}

/// A gateway configuration listening on `addr`, with a fresh key, and `platform_sections`.
fn config(addr: SocketAddr, platform_sections: &str) -> Config {
    let key = SecretKey::generate_spec(&KeyId::parse("test").expect("a valid key id"))
        .expect("a generated key");
    let text = format!(
        "[server]\nlisten = \"{addr}\"\nshutdown_grace = \"2s\"\n\
         [store]\nurl = \"sqlite::memory:\"\n\
         [secrets]\nkeys = [\"{key}\"]\n\
         [log]\nformat = \"pretty\"\n\
         {platform_sections}"
    );
    Config::from_toml(&text, std::iter::empty(), std::path::Path::new("."))
        .expect("the test configuration is valid")
}
