//! A faithful local Slack: Web API, OAuth v2, signed slash commands, interactivity and the Events
//! API, plus the Slack half of the scenario control API.
