//! The callbridge gateway: HTTP edge, webhooks, OAuth callbacks, join page, dashboard, admin
//! API, metrics, per-call drivers, config, cluster and CLI.
//!
//! The only crate that wires everything together; it may depend on every workspace crate.
