//! A faithful local Microsoft side: Entra ID, Graph (users, presence, subscriptions), the Bot
//! Connector and the Teams Direct Routing SIP proxy with virtual users' phones.
