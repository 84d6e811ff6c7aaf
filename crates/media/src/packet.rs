//! A parsed, plaintext RTP packet in its own buffer, with in-place header rewriting.
//!
//! Validation (version, CSRC count, extension length, padding) is done by `rtp-types`, which
//! reads the datagram in place; the fixed-header fields the bridge rewrites sit at fixed offsets,
//! so neither parsing nor rewriting (twelve bytes) copies or allocates.

use bytes::BytesMut;

/// Whether a datagram on an rtcp-mux port is RTCP (RFC 5761 §4: PT 64–95 after the marker).
pub fn is_rtcp(data: &[u8]) -> bool {
    data.len() >= 2 && (192..=223).contains(&data[1])
}

/// A plaintext RTP packet.
#[derive(Debug, Clone)]
pub struct RtpPacket {
    buf: BytesMut,
    payload_start: usize,
    payload_end: usize,
    /// Payload type.
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp.
    pub ts: u32,
    /// SSRC.
    pub ssrc: u32,
}

impl RtpPacket {
    /// Validates and wraps a plaintext packet; `None` if it is not acceptable RTP.
    ///
    /// Refused: wrong version, truncated header/CSRC list/extension, padding longer than the
    /// payload, and empty payloads (no audio codec we bridge sends zero-byte frames).
    pub fn parse(buf: BytesMut) -> Option<Self> {
        Self::try_parse(buf).ok()
    }

    /// [`RtpPacket::parse`] that hands the buffer back when the packet is refused, so that a
    /// caller recycling buffers does not lose one to a malformed datagram.
    pub fn try_parse(buf: BytesMut) -> Result<Self, BytesMut> {
        let Some(v) = validate(&buf) else {
            return Err(buf);
        };
        Ok(Self {
            pt: v.pt,
            marker: v.marker,
            seq: v.seq,
            ts: v.ts,
            ssrc: v.ssrc,
            buf,
            payload_start: v.payload_start,
            payload_end: v.payload_end,
        })
    }

    /// Builds a packet with a minimal 12-byte header around `payload`.
    pub fn build(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Self {
        let mut buf = BytesMut::with_capacity(12 + payload.len() + 16);
        buf.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        buf.extend_from_slice(payload);
        let mut p = Self {
            buf,
            payload_start: 12,
            payload_end: 12 + payload.len(),
            pt,
            marker,
            seq,
            ts,
            ssrc,
        };
        p.write_header();
        p
    }

    /// The payload bytes (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buf[self.payload_start..self.payload_end]
    }

    /// The whole packet as it would go on the wire (before protection).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Gives up the packet, returning its buffer (for protection in place or for reuse).
    pub fn into_buffer(self) -> BytesMut {
        self.buf
    }

    /// Sets the rewritable fields and writes them into the buffer.
    pub fn rewrite(&mut self, pt: u8, seq: u16, ts: u32, ssrc: u32) {
        self.pt = pt;
        self.seq = seq;
        self.ts = ts;
        self.ssrc = ssrc;
        self.write_header();
    }

    fn write_header(&mut self) {
        self.buf[1] = (u8::from(self.marker) << 7) | (self.pt & 0x7F);
        self.buf[2..4].copy_from_slice(&self.seq.to_be_bytes());
        self.buf[4..8].copy_from_slice(&self.ts.to_be_bytes());
        self.buf[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
    }
}

/// The fixed-header fields and the payload bounds of an acceptable packet.
struct Valid {
    pt: u8,
    marker: bool,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload_start: usize,
    payload_end: usize,
}

/// Checks a plaintext packet without copying or allocating: `rtp-types` validates the version,
/// the CSRC list, the extension length and the padding against the datagram's length.
fn validate(buf: &[u8]) -> Option<Valid> {
    let packet = rtp_types::RtpPacket::parse(buf).ok()?;
    let payload_start = packet.payload_offset();
    let payload_end = payload_start + packet.payload_len();
    if payload_start >= payload_end {
        return None;
    }
    Some(Valid {
        pt: packet.payload_type(),
        marker: packet.marker_bit(),
        seq: packet.sequence_number(),
        ts: packet.timestamp(),
        ssrc: packet.ssrc(),
        payload_start,
        payload_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(first: u8, extra: &[u8]) -> BytesMut {
        let mut b = BytesMut::from(&[first, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3][..]);
        b.extend_from_slice(extra);
        b
    }

    #[test]
    fn rejects_malformed_headers() {
        // Zero payload.
        assert!(RtpPacket::parse(raw(0x80, &[])).is_none());
        // CSRC count 15 but no CSRCs.
        assert!(RtpPacket::parse(raw(0x8F, &[1, 2, 3])).is_none());
        // Extension header claiming 0xFFFF words.
        assert!(RtpPacket::parse(raw(0x90, &[0xBE, 0xDE, 0xFF, 0xFF, 1, 2])).is_none());
        // Version 1.
        assert!(RtpPacket::parse(raw(0x40, &[1, 2, 3])).is_none());
        // Padding longer than the payload.
        assert!(RtpPacket::parse(raw(0xA0, &[1, 2, 9])).is_none());
        // Truncated fixed header.
        assert!(RtpPacket::parse(BytesMut::from(&[0x80, 0, 0][..])).is_none());
    }

    #[test]
    fn parses_padding_extension_and_rewrites_in_place() {
        // One-byte extension with one element (id 1, len 1) + padding of 2.
        let b = raw(0xB0, &[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0, 7, 8, 9, 0, 2]);
        let mut p = RtpPacket::parse(b).expect("valid");
        assert_eq!(p.payload(), &[7, 8, 9]);
        assert_eq!((p.seq, p.ts, p.ssrc), (1, 2, 3));
        p.rewrite(9, 500, 70_000, 0xDEAD_BEEF);
        let again = RtpPacket::parse(BytesMut::from(p.as_bytes())).expect("still valid");
        assert_eq!(
            (again.pt, again.seq, again.ts, again.ssrc),
            (9, 500, 70_000, 0xDEAD_BEEF)
        );
        assert_eq!(again.payload(), &[7, 8, 9]);
    }

    #[test]
    fn demultiplexes_rtcp_from_rtp() {
        assert!(is_rtcp(&[0x80, 200]));
        assert!(is_rtcp(&[0x81, 201]));
        assert!(!is_rtcp(&[0x80, 0]));
        assert!(!is_rtcp(&[0x80, 0x80 | 101]));
        assert!(!is_rtcp(&[0x80]));
    }
}
