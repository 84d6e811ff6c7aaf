//! Virtual Teams users' phones: behaviour when called, and real SRTP audio with analysis.

pub mod audio;
pub(crate) mod behaviour;
pub(crate) mod codec;
mod echo;
pub(crate) mod media;
