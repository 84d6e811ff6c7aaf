//! An established call's SIP dialog (RFC 3261 §12): what in-dialog requests need, whichever
//! side placed the call, and the BYE that ends it.

use std::sync::Arc;

use crate::error::SipError;
use crate::messages::RequestText;
use crate::stack::{Route, request_final};
use crate::trunk::Shared;

/// A confirmed dialog.
#[derive(Clone, Debug)]
pub(crate) struct Dialog {
    pub(crate) call_id: String,
    /// Our From for requests we send in this dialog (with our tag).
    pub(crate) local: String,
    /// Their identity, as our To (with their tag).
    pub(crate) remote: String,
    /// Where in-dialog requests go: the peer's Contact (§1.4: Contact, not Record-Route).
    pub(crate) remote_target: String,
    /// Record-Route URIs in the order our requests carry them as Route (RFC 3261 §12.1).
    /// Direct Routing recommends Contact only (§1.4), so this is usually empty; when a
    /// Record-Route does come, it must agree with the Contact, and listing it is harmless.
    pub(crate) route_set: Vec<String>,
    /// The CSeq our next request uses.
    pub(crate) next_cseq: u32,
    /// The connection (and UDP address) the dialog runs on.
    pub(crate) route: Route,
    /// The user part of our Contact.
    pub(crate) contact_user: Option<String>,
}

/// Sends BYE and waits (bounded) for its answer; the leg is already ended.
pub(crate) async fn send_bye(shared: &Arc<Shared>, dialog: Dialog) -> Result<(), SipError> {
    if bye(shared, &dialog).await?.is_none() {
        tracing::debug!("BYE got no final response");
    }
    Ok(())
}

/// Sends BYE in `dialog` and returns the status of its final response, if one came in time.
pub(crate) async fn bye(shared: &Arc<Shared>, dialog: &Dialog) -> Result<Option<u16>, SipError> {
    let via = shared.via(&dialog.route);
    let contact = shared.contact(dialog.contact_user.as_deref(), dialog.route.transport);
    let routes: Vec<(&str, String)> = dialog
        .route_set
        .iter()
        .map(|uri| ("Route", uri.clone()))
        .collect();
    let request = RequestText {
        method: "BYE",
        uri: &dialog.remote_target,
        via: &via,
        from: &dialog.local,
        to: &dialog.remote,
        call_id: &dialog.call_id,
        cseq: dialog.next_cseq,
        contact: Some(&contact),
        extra: &routes,
        sdp: None,
    }
    .build(&shared.config.sbc_identity)?;
    let answer = request_final(
        &shared.endpoint,
        &dialog.route,
        request,
        shared.config.request_timeout,
    )
    .await?;
    Ok(answer.map(|response| response.status_code.code()))
}
