//! Recycled packet buffers: the passthrough path takes one for each received datagram, it
//! travels as the [`crate::leg::Transmit`] payload, and the shell hands it back after sending
//! ([`crate::bridge::Bridge::recycle`]), so steady-state forwarding allocates nothing.

use bytes::{Bytes, BytesMut};

/// Room for any RTP datagram that fits an Ethernet MTU; a larger one still works, the buffer
/// just grows (once).
pub const BUFFER_CAPACITY: usize = 1500;
/// Buffers kept for reuse. The shell sends and hands back each call's output right after the
/// datagram that caused it, so a handful are ever out at once; the cap bounds what a burst can
/// leave behind at 12 KiB per bridge.
const MAX_FREE: usize = 8;

/// A small free list of packet buffers, one per bridge.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Vec<BytesMut>,
}

impl BufferPool {
    /// An empty buffer of [`BUFFER_CAPACITY`], reused when one is free.
    pub fn take(&mut self) -> BytesMut {
        self.free.pop().unwrap_or_else(fresh)
    }

    /// Returns a buffer for reuse; one that is too small, or beyond the pool's size, is freed.
    pub fn give(&mut self, mut buf: BytesMut) {
        if self.free.len() < MAX_FREE && buf.capacity() >= BUFFER_CAPACITY {
            // Sized once, on first use, so that returning a buffer never grows the list.
            self.free.reserve_exact(MAX_FREE - self.free.len());
            buf.clear();
            self.free.push(buf);
        }
    }

    /// Takes back a sent payload if nothing else still shares it.
    pub fn reclaim(&mut self, payload: Bytes) {
        if let Ok(buf) = payload.try_into_mut() {
            self.give(buf);
        }
    }

    /// Buffers currently free.
    pub fn free(&self) -> usize {
        self.free.len()
    }
}

fn fresh() -> BytesMut {
    let mut buf = BytesMut::with_capacity(BUFFER_CAPACITY);
    // Move to `bytes`' shared representation once, here: from then on `freeze` and
    // `Bytes::try_into_mut` hand the same allocation back and forth without allocating a
    // header each time (a plain vector-backed buffer would get a new one on every `freeze`).
    drop(buf.split_to(0));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram of `len` bytes written into a pooled buffer and frozen for sending.
    fn sent(pool: &mut BufferPool, len: usize) -> Bytes {
        let mut buf = pool.take();
        buf.extend_from_slice(&vec![7; len]);
        buf.freeze()
    }

    #[test]
    fn a_sent_payload_comes_back_as_the_same_buffer() {
        let mut pool = BufferPool::default();
        let payload = sent(&mut pool, 182);
        let at = payload.as_ptr();
        pool.reclaim(payload);
        assert_eq!(pool.free(), 1);
        let again = pool.take();
        assert_eq!(again.as_ptr(), at, "same allocation");
        assert!(again.is_empty() && again.capacity() >= BUFFER_CAPACITY);
    }

    #[test]
    fn shared_payloads_and_small_buffers_are_not_kept() {
        let mut pool = BufferPool::default();
        let payload = sent(&mut pool, 10);
        let clone = payload.clone();
        pool.reclaim(payload);
        assert_eq!(pool.free(), 0, "still shared with `clone`");
        drop(clone);
        pool.give(BytesMut::with_capacity(16));
        assert_eq!(pool.free(), 0, "too small to hold a datagram");
        for _ in 0..MAX_FREE + 5 {
            pool.give(fresh());
        }
        assert_eq!(pool.free(), MAX_FREE);
    }
}
