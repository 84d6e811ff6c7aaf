//! Narrow storage traits with SQLite (embedded default) and PostgreSQL implementations sharing
//! one migration set; secrets AEAD-encrypted at rest.
//!
//! May depend on: `callbridge-model`, sqlx, aws-lc-rs. Never on the gateway or an adapter.
