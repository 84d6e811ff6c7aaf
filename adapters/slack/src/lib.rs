//! Slack platform adapter: Web API client, OAuth v2, request signatures, Calls API, Events API
//! and status mirroring, translated into the common model.
//!
//! May depend on: `callbridge-adapter`, `callbridge-model` and HTTP/OAuth libraries. Never on
//! the gateway, the store, the engine or another adapter.
