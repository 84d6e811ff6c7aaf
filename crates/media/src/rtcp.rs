//! RTCP generation (SR/RR + SDES CNAME, BYE) and reading of the peer's reports.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rtc_rtcp::goodbye::Goodbye;
use rtc_rtcp::packet::Packet;
use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::reception_report::ReceptionReport;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtcp::source_description::{
    SdesType, SourceDescription, SourceDescriptionChunk, SourceDescriptionItem,
};

use crate::clock::from_compact;

/// What the sender section of an SR carries.
#[derive(Debug, Clone, Copy)]
pub struct SenderInfo {
    /// NTP time of the report.
    pub ntp: u64,
    /// RTP timestamp corresponding to `ntp` in the outbound stream's clock.
    pub rtp_ts: u32,
    /// Packets sent so far.
    pub packets: u32,
    /// Payload octets sent so far.
    pub octets: u32,
}

/// Everything needed to build one compound report.
#[derive(Debug, Clone)]
pub struct ReportSpec<'a> {
    /// Our SSRC on this leg.
    pub ssrc: u32,
    /// Our CNAME.
    pub cname: &'a str,
    /// Present when we sent RTP since the last report (SR instead of RR).
    pub sender: Option<SenderInfo>,
    /// Reception block about the peer's stream, if we receive one.
    pub reception: Option<ReceptionReport>,
    /// Append a BYE (leg ending).
    pub bye: bool,
}

/// Builds a compound RTCP packet: SR or RR first, then SDES CNAME, then optionally BYE.
pub fn build(spec: &ReportSpec<'_>) -> Option<BytesMut> {
    let reports: Vec<ReceptionReport> = spec.reception.iter().cloned().collect();
    let mut packets: Vec<Box<dyn Packet>> = Vec::with_capacity(3);
    match spec.sender {
        Some(s) => packets.push(Box::new(SenderReport {
            ssrc: spec.ssrc,
            ntp_time: s.ntp,
            rtp_time: s.rtp_ts,
            packet_count: s.packets,
            octet_count: s.octets,
            reports,
            profile_extensions: Bytes::new(),
        })),
        None => packets.push(Box::new(ReceiverReport {
            ssrc: spec.ssrc,
            reports,
            profile_extensions: Bytes::new(),
        })),
    }
    packets.push(Box::new(SourceDescription {
        chunks: vec![SourceDescriptionChunk {
            source: spec.ssrc,
            items: vec![SourceDescriptionItem {
                sdes_type: SdesType::SdesCname,
                text: Bytes::copy_from_slice(spec.cname.as_bytes()),
            }],
        }],
    }));
    if spec.bye {
        packets.push(Box::new(Goodbye {
            sources: vec![spec.ssrc],
            reason: Bytes::new(),
        }));
    }
    rtc_rtcp::packet::marshal(&packets).ok()
}

/// What we learnt from one inbound compound packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The peer's SR: its SSRC and the compact NTP time (for our LSR).
    pub sender_report: Option<(u32, u32)>,
    /// A reception block about *our* SSRC: (fraction lost, LSR, DLSR).
    pub about_us: Option<(u8, u32, u32)>,
    /// The peer said BYE.
    pub bye: bool,
}

/// Parses an inbound compound packet; `None` if it is malformed.
pub fn parse(data: &[u8], our_ssrc: u32) -> Option<Summary> {
    let mut buf = data;
    let packets = rtc_rtcp::packet::unmarshal(&mut buf).ok()?;
    let mut summary = Summary::default();
    for p in &packets {
        let any = p.as_any();
        let blocks: &[ReceptionReport] = if let Some(sr) = any.downcast_ref::<SenderReport>() {
            summary.sender_report = Some((sr.ssrc, crate::clock::ntp_mid(sr.ntp_time)));
            &sr.reports
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            &rr.reports
        } else {
            if any.downcast_ref::<Goodbye>().is_some() {
                summary.bye = true;
            }
            &[]
        };
        if let Some(b) = blocks.iter().find(|b| b.ssrc == our_ssrc) {
            summary.about_us = Some((b.fraction_lost, b.last_sender_report, b.delay));
        }
    }
    Some(summary)
}

/// Round-trip time from a reception block (RFC 3550 §6.4.1): now − LSR − DLSR.
pub fn round_trip(now_mid: u32, lsr: u32, dlsr: u32) -> Option<Duration> {
    if lsr == 0 {
        return None;
    }
    let rtt = now_mid.wrapping_sub(lsr).wrapping_sub(dlsr);
    // A negative result (clock error) shows up as a huge unsigned value.
    (rtt < 0x8000_0000).then(|| from_compact(rtt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{WallClock, ntp_mid, to_compact};

    #[test]
    fn sr_with_sdes_and_bye_round_trips() {
        let t0 = crate::test_support::epoch();
        let wall = WallClock {
            at: t0,
            unix: Duration::from_secs(1_700_000_000),
        };
        let ntp = wall.ntp(t0 + Duration::from_millis(1500));
        assert_eq!(ntp >> 32, 1_700_000_001 + 2_208_988_800);
        let block = ReceptionReport {
            ssrc: 99,
            fraction_lost: 12,
            ..Default::default()
        };
        let spec = ReportSpec {
            ssrc: 7,
            cname: "callbridge",
            sender: Some(SenderInfo {
                ntp,
                rtp_ts: 1234,
                packets: 10,
                octets: 1600,
            }),
            reception: Some(block),
            bye: true,
        };
        let bytes = build(&spec).expect("marshal");
        let s = parse(&bytes, 99).expect("parse");
        assert_eq!(s.sender_report, Some((7, ntp_mid(ntp))));
        assert_eq!(s.about_us, Some((12, 0, 0)));
        assert!(s.bye);
    }

    #[test]
    fn rtt_from_lsr_and_dlsr() {
        let lsr = 0x1234_0000;
        let dlsr = to_compact(Duration::from_millis(100));
        let now = lsr + dlsr + to_compact(Duration::from_millis(40));
        let rtt = round_trip(now, lsr, dlsr).expect("rtt");
        assert!((rtt.as_secs_f64() - 0.040).abs() < 0.001, "{rtt:?}");
        assert_eq!(round_trip(now, 0, dlsr), None);
    }

    #[test]
    fn malformed_rtcp_is_none_not_a_panic() {
        for bad in [
            &[][..],
            &[0x80, 200, 0, 1],
            &[0x81, 201, 0, 7, 0, 0, 0, 1],
            &[0xFF; 40],
        ] {
            assert!(parse(bad, 1).is_none(), "{bad:?}");
        }
    }
}
