//! The I/O shell: the only part of this crate that touches sockets, threads and the clock.
//!
//! One [`worker::Worker`] per core, optionally pinned to it, owns its calls and their sockets;
//! calls never move between workers. Each worker waits on one `mio` poll with one timer (a
//! `timerfd` at the earliest bridge deadline), reads datagrams in batches through `quinn-udp` (recvmmsg, GRO where
//! the kernel offers it), feeds the bridges and sends what they produce, coalescing datagrams
//! for one destination into one GSO send. [`ports::PortAllocator`] hands out RTP ports and
//! [`admission::Admission`] refuses a call that would exceed the measured capacity.
//!
//! Owners steer a worker without blocking: commands are queued with a wake-up, results come
//! back through futures that need no particular runtime, and events go to the owner's
//! [`worker::EventSink`]. Calls are keyed by [`worker::MediaCallKey`].

pub mod admission;
pub mod affinity;
mod histogram;
pub mod pool;
pub mod ports;
mod timer;
pub mod worker;
