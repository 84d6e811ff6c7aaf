//! Sans-IO media core: legs, bridge, SRTP, rewriting, jitter buffer, codecs, DTMF, RTCP, stats,
//! plus the thin UDP worker shell that drives it.
//!
//! The core never reads the clock, opens sockets or spawns tasks; time is an input.
//!
//! May depend on: `callbridge-model`, media crates (str0m, rtc-*, opus, ezk-g722) and, for the
//! I/O shell only, a UDP batching crate. No async runtime, HTTP, database or adapter.
