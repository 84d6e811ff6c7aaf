//! A fresh SQLite store in a temporary directory, migrated and keyed, removed when dropped.

use callbridge_store::{KeyId, Keyring, SecretKey, SqlStore};

/// A migrated store that lives as long as this value.
pub struct TestStore {
    /// The store.
    pub store: SqlStore,
    url: String,
    key_spec: String,
    _dir: tempfile::TempDir,
}

impl TestStore {
    /// A new empty store.
    ///
    /// # Panics
    /// When the temporary directory or the database cannot be created: the test cannot run.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the test store");
        let spec = SecretKey::generate_spec(&KeyId::parse("test").expect("a valid key id"))
            .expect("a generated key");
        let key = SecretKey::parse(&spec).expect("the generated key parses");
        let url = format!("sqlite:{}", dir.path().join("callbridge.db").display());
        let store = SqlStore::connect(&url, Keyring::new(key, []))
            .await
            .expect("the test store opens");
        store.migrate().await.expect("the test store migrates");
        Self {
            store,
            url,
            key_spec: spec,
            _dir: dir,
        }
    }

    /// The database URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The sealing key, as configuration writes it.
    pub fn key_spec(&self) -> &str {
        &self.key_spec
    }

    /// A new connection to the same database, for reading what a gateway left after it
    /// stopped (a stopping gateway closes the connection it was given).
    ///
    /// # Panics
    /// When the database cannot be opened again.
    pub async fn reopen(&self) -> SqlStore {
        let key = SecretKey::parse(&self.key_spec).expect("the test key parses");
        SqlStore::connect(&self.url, Keyring::new(key, []))
            .await
            .expect("the test store opens again")
    }
}
