//! Building the calls: for each, two bridge sockets from the port allocator, real SDP
//! offer/answer with SDES-SRTP on both legs, a bridge handed to the worker, and the far ends'
//! SRTP sessions.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};

use callbridge_media::bridge::{Bridge, BridgeConfig};
use callbridge_media::codec::Codec;
use callbridge_media::leg::{LatchMode, RtpLeg, RtpLegConfig};
use callbridge_media::sdp::{self, LocalMedia};
use callbridge_media::shell::ports::PortAllocator;
use callbridge_media::shell::worker;
use callbridge_media::srtp::SrtpSession;

use crate::Result;

/// The sending half of one far end.
pub(crate) struct TxPeer {
    pub(crate) to: SocketAddr,
    pub(crate) srtp: SrtpSession,
    pub(crate) pt: u8,
    pub(crate) ssrc: u32,
    pub(crate) seq: u16,
    pub(crate) ts: u32,
    pub(crate) ts_step: u32,
}

/// Every call's far ends, both sides.
pub(crate) struct Calls {
    /// Per call, the far end of leg A and of leg B.
    pub(crate) tx: Vec<[TxPeer; 2]>,
    /// Per side, the call and receiving SRTP session of each bridge socket that sends to it.
    pub(crate) rx: [HashMap<SocketAddr, (usize, SrtpSession)>; 2],
    /// The bridge's local ports, for the kernel's drop counters.
    pub(crate) bridge_ports: Vec<u16>,
}

/// Where a built call goes: normally a worker; the floor measurement keeps only the sockets.
pub(crate) type Place<'a> = dyn FnMut(u64, Bridge, Vec<UdpSocket>) -> Result<()> + 'a;

/// Creates `n` calls whose far ends live at `peer_addrs` (side A, side B) and hands each
/// bridge with its two sockets to `place`.
pub(crate) fn calls(
    n: usize,
    codecs: [Codec; 2],
    complexity: i32,
    peer_addrs: [SocketAddr; 2],
    place: &mut Place<'_>,
) -> Result<Calls> {
    let mut ports = PortAllocator::new(20_000..=59_999)?;
    let mut out = Calls {
        tx: Vec::with_capacity(n),
        rx: [HashMap::new(), HashMap::new()],
        bridge_ports: Vec::with_capacity(2 * n),
    };
    for call in 0..n {
        let mut legs = Vec::new();
        let mut sockets = Vec::new();
        let mut peers = Vec::new();
        for side in 0..2 {
            let sock = loop {
                let port = ports.allocate()?;
                if let Ok(s) = UdpSocket::bind(("127.0.0.1", port)) {
                    break s;
                }
            };
            let local = sock.local_addr()?;
            out.bridge_ports.push(local.port());
            let codec = codecs[side];
            let peer = peer_addrs[side];
            let pm = LocalMedia::new(peer.ip(), peer.port(), vec![codec]).with_fresh_srtp();
            let bm = LocalMedia::new(local.ip(), local.port(), vec![codec]).with_fresh_srtp();
            let offer = sdp::create_offer(&pm, call as u64);
            let (answer, at_bridge) = sdp::answer_offer(&offer, &bm, call as u64)?;
            let at_peer = sdp::apply_answer(&answer, &pm)?;
            let (ours, theirs) = at_peer.srtp.clone().ok_or("SRTP was not negotiated")?;
            out.rx[side].insert(local, (call, SrtpSession::new(&ours, &theirs)?));
            peers.push(TxPeer {
                to: local,
                srtp: SrtpSession::new(&ours, &theirs)?,
                pt: at_peer.codec_pt,
                ssrc: 0x5000_0000 + (call as u32) * 2 + side as u32,
                seq: spread_u16(call, side),
                ts: 0,
                ts_step: codec.rtp_clock() / 50,
            });
            legs.push(RtpLeg::new(RtpLegConfig {
                local,
                negotiated: at_bridge,
                latch: LatchMode::FirstValidPacket,
                ssrc: 0x6000_0000 + (call as u32) * 2 + side as u32,
                cname: "loadgen".into(),
                initial_seq: spread_u16(side, call),
                initial_ts: 0,
            })?);
            sockets.push(sock);
        }
        let mut cfg = BridgeConfig::new(worker::wall_clock());
        cfg.transcode.opus_complexity = complexity;
        let b = legs.pop().ok_or("leg B")?;
        let a = legs.pop().ok_or("leg A")?;
        place(call as u64, Bridge::new(a, b, cfg, worker::now())?, sockets)?;
        let pb = peers.pop().ok_or("peer B")?;
        let pa = peers.pop().ok_or("peer A")?;
        out.tx.push([pa, pb]);
    }
    Ok(out)
}

/// Initial sequence numbers spread over the whole range, so wraps happen during a run.
fn spread_u16(a: usize, b: usize) -> u16 {
    ((a * 7919 + b * 104_729) % 65_536) as u16
}
