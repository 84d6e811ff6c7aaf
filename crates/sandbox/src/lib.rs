//! Faithful local stand-ins for Slack, Entra ID / Graph / Bot Connector and the Teams Direct
//! Routing SIP proxy, with virtual users, used by `callbridge demo` and the end-to-end tests.
//!
//! May depend on: `callbridge-model` and server/crypto/media libraries. Never on the gateway,
//! the store, the engine or an adapter: the sandboxes stand in for the outside world.
