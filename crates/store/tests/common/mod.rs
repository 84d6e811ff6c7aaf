//! Test databases: a fresh SQLite file or a fresh PostgreSQL database per test.
//!
//! PostgreSQL comes from `CALLBRIDGE_TEST_POSTGRES_URL`, or else from the repository's
//! `scripts/start-postgres.sh`, which starts (and if needed installs) a private cluster on
//! loopback. The PostgreSQL half of the suite is never skipped: without a server it fails.

#![allow(dead_code, unreachable_pub, missing_docs)] // shared by several test binaries

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use callbridge_store::{KeyId, Keyring, SecretKey, SqlStore};
use sqlx::{Connection, Executor};

pub fn key(id: &str) -> SecretKey {
    SecretKey::parse(&SecretKey::generate_spec(&KeyId::parse(id).unwrap()).unwrap()).unwrap()
}

pub fn key_spec(id: &str) -> String {
    SecretKey::generate_spec(&KeyId::parse(id).unwrap()).unwrap()
}

pub fn keyring() -> Keyring {
    Keyring::new(key("test"), [])
}

/// The admin URL of the test PostgreSQL server.
pub fn postgres_admin_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("CALLBRIDGE_TEST_POSTGRES_URL") {
            return url;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start-postgres.sh");
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run start-postgres.sh");
        assert!(
            output.status.success(),
            "PostgreSQL is required by the store suite and could not be started: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    })
    .clone()
}

/// One test's database.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        url: String,
        name: String,
    },
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("callbridge.db");
        Self::Sqlite { _dir: dir, path }
    }

    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!("cb_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&admin)
            .await
            .expect("connect to PostgreSQL");
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("admin URL has no database part"),
        };
        Self::Postgres { url, name }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { path, .. } => format!("sqlite:{}", path.display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }

    pub async fn open(&self, keyring: Keyring) -> SqlStore {
        let store = SqlStore::connect(&self.url(), keyring)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    /// Everything the database holds, as bytes an attacker with the files or a dump would see.
    pub fn raw_contents(&self) -> Vec<u8> {
        match self {
            Self::Sqlite { path, .. } => {
                let mut bytes = Vec::new();
                for suffix in ["", "-wal", "-shm"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    if let Ok(content) = std::fs::read(file) {
                        bytes.extend(content);
                    }
                }
                bytes
            }
            Self::Postgres { url, .. } => {
                let output = Command::new(pg_dump())
                    .arg("--dbname")
                    .arg(url)
                    .output()
                    .expect("run pg_dump");
                assert!(
                    output.status.success(),
                    "pg_dump failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                output.stdout
            }
        }
    }
}

fn pg_dump() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin/pg_dump"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("pg_dump"))
}

/// Runs an async test body against a fresh SQLite file and a fresh PostgreSQL database.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident;)*) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::TestDb::postgres().await;
                    super::$name(&db).await;
                }
            )*
        }
    };
}
