//! The one SQL implementation of every store trait, over sqlx's `Any` driver so SQLite and
//! PostgreSQL run the same statements and the same migrations.
//!
//! Statements use `$n` placeholders, which both backends accept, and only portable SQL
//! (`ON CONFLICT … DO UPDATE`, `RETURNING`). Every multi-row write is one transaction, so a crash
//! at any instant leaves either the whole record or none of it.

mod calls;
mod codec;
mod inbox;
mod installations;
mod leases;
mod links;
mod presence;
mod secrets;

use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::StoreError;
use crate::secret::Keyring;

/// Which database a [`SqlStore`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default), in WAL mode.
    Sqlite,
    /// A PostgreSQL server (for several gateway nodes).
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            Err(StoreError::Misconfigured(
                "store URL must start with sqlite: or postgres://".to_owned(),
            ))
        }
    }
}

/// The SQL store: SQLite or PostgreSQL behind the same code.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    keyring: Arc<Keyring>,
    backend: Backend,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqlStore {
    /// Connects to `url` (`sqlite:PATH` creates the file if missing; `postgres://…`), sealing
    /// secrets with `keyring`. Does not migrate: call [`SqlStore::migrate`].
    pub async fn connect(url: &str, keyring: impl Into<Arc<Keyring>>) -> Result<Self, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let backend = Backend::of_url(url)?;
        let url = match backend {
            // Create the file on first start; a missing data directory is still an error.
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let options: AnyConnectOptions = url
            .parse()
            .map_err(|error| StoreError::Misconfigured(format!("store URL is invalid: {error}")))?;
        let pool = AnyPoolOptions::new()
            // SQLite serialises writers anyway; a few connections let readers run beside one.
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer; NORMAL sync is crash-safe in WAL
                        // (a power cut may lose the last commits, a killed process loses none).
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            keyring: keyring.into(),
            backend,
        })
    }

    /// Applies pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Misconfigured(format!("migrations failed: {other}")),
        })
    }

    /// Checks the database answers (for readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection, waiting for in-flight statements.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
