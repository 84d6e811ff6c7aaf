//! Teams platform adapter: Entra OAuth, Graph presence and subscriptions, Bot Framework, and the
//! Direct Routing trunk (through `callbridge-sip`), translated into the common model.
//!
//! May depend on: `callbridge-adapter`, `callbridge-model`, `callbridge-sip` and HTTP/OAuth
//! libraries. Never on the gateway, the store, the engine or another adapter.
