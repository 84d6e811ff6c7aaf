//! The Teams Direct Routing SIP proxies (reference `sip-direct-routing.md` Part 1): three
//! instances standing for `sip`, `sip2` and `sip3.pstnhub.microsoft.com`, each on its own
//! loopback ports over UDP, TCP and TLS.

pub(crate) mod message;
pub(crate) mod proxy;
pub(crate) mod sdp;
pub(crate) mod tls;
pub(crate) mod transport;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use self::proxy::SipProxy;
use self::transport::{Peer, Sender, Transport};
use super::SandboxError;
use super::state::MicrosoftState;

/// The proxy names and the FQDNs they stand for (§1.2).
pub(crate) const PROXIES: [(&str, &str); 3] = [
    ("sip", "sip.pstnhub.microsoft.com"),
    ("sip2", "sip2.pstnhub.microsoft.com"),
    ("sip3", "sip3.pstnhub.microsoft.com"),
];

/// Where one proxy instance listens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SipProxyAddrs {
    /// `sip`, `sip2` or `sip3`.
    pub name: String,
    /// The FQDN it stands for.
    pub fqdn: String,
    /// SIP over UDP.
    pub udp: SocketAddr,
    /// SIP over TCP.
    pub tcp: SocketAddr,
    /// SIP over TLS (certificate from the sandbox CA).
    pub tls: SocketAddr,
}

/// Binds and starts one proxy; returns it, its addresses and its tasks.
pub(crate) async fn start_proxy(
    state: &MicrosoftState,
    name: &str,
    fqdn: &str,
    ip: IpAddr,
    acceptor: TlsAcceptor,
) -> Result<(SipProxy, SipProxyAddrs, Vec<JoinHandle<()>>), SandboxError> {
    let udp = Arc::new(UdpSocket::bind(SocketAddr::new(ip, 0)).await?);
    let tcp = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    let tls = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    let addrs = SipProxyAddrs {
        name: name.to_owned(),
        fqdn: fqdn.to_owned(),
        udp: udp.local_addr()?,
        tcp: tcp.local_addr()?,
        tls: tls.local_addr()?,
    };
    let sender = Sender::new(udp.clone());
    let proxy = SipProxy::new(name, fqdn, ip, sender.clone(), state.clone());
    {
        let mut ports = crate::microsoft::state::lock(&proxy.ports);
        ports.insert("udp", addrs.udp.port());
        ports.insert("tcp", addrs.tcp.port());
        ports.insert("tls", addrs.tls.port());
    }
    let (deliver, mut incoming) = mpsc::unbounded_channel();
    let mut tasks = vec![tokio::spawn(transport::serve_udp(udp, deliver.clone()))];
    let tls_sender = sender.clone();
    let tls_deliver = deliver.clone();
    tasks.push(tokio::spawn(async move {
        while let Ok((stream, addr)) = tls.accept().await {
            let peer = Peer {
                transport: Transport::Tls,
                addr,
            };
            let (acceptor, sender, deliver) =
                (acceptor.clone(), tls_sender.clone(), tls_deliver.clone());
            tokio::spawn(async move {
                // A failed handshake (unknown CA, TLS 1.0/1.1) just closes the connection.
                if let Ok(stream) = acceptor.accept(stream).await {
                    transport::serve_stream(stream, peer, sender, deliver).await;
                }
            });
        }
    }));
    let tcp_sender = sender;
    let tcp_deliver = deliver;
    tasks.push(tokio::spawn(async move {
        while let Ok((stream, addr)) = tcp.accept().await {
            let peer = Peer {
                transport: Transport::Tcp,
                addr,
            };
            tokio::spawn(transport::serve_stream(
                stream,
                peer,
                tcp_sender.clone(),
                tcp_deliver.clone(),
            ));
        }
    }));
    let handler = proxy.clone();
    tasks.push(tokio::spawn(async move {
        while let Some((peer, message)) = incoming.recv().await {
            handler.handle(peer, message).await;
        }
    }));
    Ok((proxy, addrs, tasks))
}
