//! SIP trunk for Teams Direct Routing: transport, OPTIONS keepalive, INVITE dialogs, SDP
//! offer/answer glue and failover between proxies.
//!
//! May depend on: `callbridge-model` and SIP/TLS libraries. Never on the gateway, the store or
//! an adapter.
