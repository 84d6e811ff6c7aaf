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
    /// The CSeq our next request uses.
    pub(crate) next_cseq: u32,
    /// The connection (and UDP address) the dialog runs on.
    pub(crate) route: Route,
    /// The user part of our Contact.
    pub(crate) contact_user: Option<String>,
}

/// Sends BYE and waits (bounded) for its answer; the leg is already ended.
pub(crate) async fn send_bye(shared: &Arc<Shared>, dialog: Dialog) -> Result<(), SipError> {
    let via = shared.via(&dialog.route);
    let contact = shared.contact(dialog.contact_user.as_deref(), dialog.route.transport);
    let request = RequestText {
        method: "BYE",
        uri: &dialog.remote_target,
        via: &via,
        from: &dialog.local,
        to: &dialog.remote,
        call_id: &dialog.call_id,
        cseq: dialog.next_cseq,
        contact: Some(&contact),
        extra: &[],
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
    if answer.is_none() {
        tracing::debug!("BYE got no final response");
    }
    Ok(())
}
