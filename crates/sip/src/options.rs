//! The OPTIONS keepalive (reference `sip-direct-routing.md` §1.4): one OPTIONS to each proxy
//! every `options_interval` (a minute), and its outcome exported per proxy, because Microsoft
//! demotes an SBC that has sent none for three minutes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::messages::{ALLOW, RequestText, token};
use crate::stack::request_final;
use crate::trunk::{PROXY_HEALTH_METRIC, Shared};

/// Sends OPTIONS to proxy `index` forever.
pub(crate) async fn keepalive(shared: Arc<Shared>, index: usize) {
    let Some(proxy) = shared.proxies.get(index) else {
        return;
    };
    let fqdn = proxy.target.fqdn.clone();
    let mut tick = tokio::time::interval(shared.config.options_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let healthy = matches!(ping(&shared, index).await, Some(200));
        proxy.healthy.store(healthy, Ordering::SeqCst);
        metrics::gauge!(PROXY_HEALTH_METRIC, "proxy" => fqdn.clone()).set(if healthy {
            1.0
        } else {
            0.0
        });
        if !healthy {
            tracing::warn!(proxy = %fqdn, "SIP proxy did not answer OPTIONS with 200");
            shared.drop_connection(index).await;
        }
    }
}

/// One OPTIONS; the final status, if any arrived in time.
async fn ping(shared: &Arc<Shared>, index: usize) -> Option<u16> {
    let proxy = shared.proxies.get(index)?;
    let route = match tokio::time::timeout(shared.config.request_timeout, shared.proxy_route(index))
        .await
    {
        Ok(Ok(route)) => route,
        Ok(Err(error)) => {
            tracing::debug!(%error, proxy = %proxy.target.fqdn, "no connection for OPTIONS");
            return None;
        }
        Err(_) => return None,
    };
    let target = format!(
        "sip:{}:{};transport={}",
        proxy.target.fqdn,
        proxy.target.addr.port(),
        proxy.target.transport.uri_param()
    );
    let via = shared.via(&route);
    let from = format!("<sip:{}>;tag={}", shared.config.sbc_fqdn, token());
    let to = format!("<{target}>");
    let call_id = crate::messages::call_id(&shared.config.sbc_fqdn);
    let contact = shared.contact(None, route.transport);
    let request = RequestText {
        method: "OPTIONS",
        uri: &target,
        via: &via,
        from: &from,
        to: &to,
        call_id: &call_id,
        cseq: 1,
        contact: Some(&contact),
        extra: &[
            ("Allow", ALLOW.to_owned()),
            ("Accept", "application/sdp".to_owned()),
        ],
        sdp: None,
    }
    .build(&shared.config.sbc_identity)
    .ok()?;
    request_final(
        &shared.endpoint,
        &route,
        request,
        shared.config.request_timeout,
    )
    .await
    .ok()
    .flatten()
    .map(|r| r.status_code.code())
}
