//! SIP transports: UDP datagrams and TCP streams (TLS streams use the same framing). Incoming
//! messages go to the proxy; the proxy replies to the peer they came from.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::message::{ParseError, SipMessage};
use crate::microsoft::state::lock;

/// Largest message accepted on a stream before the connection is dropped.
const MAX_STREAM_BUFFER: usize = 64 * 1024;

/// The transport a message came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub(crate) fn via_name(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

/// Where a message came from and where its replies go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Peer {
    pub(crate) transport: Transport,
    pub(crate) addr: SocketAddr,
}

/// Sends bytes to peers: one UDP socket and the open stream connections.
#[derive(Clone, Debug)]
pub(crate) struct Sender {
    udp: Arc<UdpSocket>,
    streams: Arc<Mutex<HashMap<Peer, mpsc::UnboundedSender<Vec<u8>>>>>,
}

impl Sender {
    pub(crate) fn new(udp: Arc<UdpSocket>) -> Self {
        Self {
            udp,
            streams: Arc::default(),
        }
    }

    pub(crate) async fn send(&self, peer: Peer, message: &SipMessage) {
        let bytes = message.to_bytes();
        match peer.transport {
            Transport::Udp => {
                if let Err(error) = self.udp.send_to(&bytes, peer.addr).await {
                    tracing::debug!(%error, "sip udp send failed");
                }
            }
            Transport::Tcp | Transport::Tls => {
                let stream = lock(&self.streams).get(&peer).cloned();
                match stream {
                    Some(stream) => {
                        let _ = stream.send(bytes);
                    }
                    None => tracing::debug!(?peer, "no open connection to the peer"),
                }
            }
        }
    }
}

/// Runs the UDP receive loop, handing each parsed datagram to `deliver`.
pub(crate) async fn serve_udp(
    socket: Arc<UdpSocket>,
    deliver: mpsc::UnboundedSender<(Peer, SipMessage)>,
) {
    let mut buffer = vec![0u8; 65_536];
    loop {
        let Ok((length, addr)) = socket.recv_from(&mut buffer).await else {
            return;
        };
        let peer = Peer {
            transport: Transport::Udp,
            addr,
        };
        // Keep-alive CRLFs and garbage are dropped, as a proxy does on UDP.
        if let Ok((message, _)) = SipMessage::parse(&buffer[..length])
            && deliver.send((peer, message)).is_err()
        {
            return;
        }
    }
}

/// Runs one stream connection: frames messages by Content-Length, writes queued replies.
pub(crate) async fn serve_stream<S>(
    stream: S,
    peer: Peer,
    sender: Sender,
    deliver: mpsc::UnboundedSender<(Peer, SipMessage)>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let (outgoing, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    lock(&sender.streams).insert(peer, outgoing);
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    'connection: while let Ok(read) = reader.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
        loop {
            match SipMessage::parse(&buffer) {
                Ok((message, used)) => {
                    buffer.drain(..used);
                    if deliver.send((peer, message)).is_err() {
                        break 'connection;
                    }
                }
                Err(ParseError::Incomplete) if buffer.len() <= MAX_STREAM_BUFFER => {
                    // Only CRLF keep-alives left: drop them.
                    if buffer.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                        buffer.clear();
                    }
                    break;
                }
                // A stream that cannot be framed any more is closed.
                Err(_) => break 'connection,
            }
        }
    }
    lock(&sender.streams).remove(&peer);
    writer_task.abort();
}
