//! Phones and calls: per-user phone behaviour, the call log, and the running proxies.

use std::collections::HashMap;

use super::SandboxError;
use super::phone::behaviour::{CallRecord, PhoneBehaviour};
use super::seed::UserSeed;
use super::sip::SipProxyAddrs;
use super::sip::proxy::{Decision, SipProxy};
use super::state::{MicrosoftState, lock};

/// Phone behaviours, calls and proxies of one sandbox.
#[derive(Debug, Default)]
pub(crate) struct TelephonyBook {
    pub(crate) phones: HashMap<String, PhoneBehaviour>,
    pub(crate) calls: Vec<CallRecord>,
    pub(crate) proxies: Vec<(SipProxy, SipProxyAddrs)>,
}

impl MicrosoftState {
    pub(crate) fn user_by_phone(&self, number: &str) -> Option<UserSeed> {
        self.inner
            .directory
            .all_users()
            .find(|u| u.phone.as_deref() == Some(number))
            .cloned()
    }

    pub(crate) fn phone_behaviour(&self, user_id: &str) -> PhoneBehaviour {
        lock(&self.inner.telephony)
            .phones
            .get(user_id)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn record_call(&self, call: CallRecord) {
        lock(&self.inner.telephony).calls.push(call);
    }

    pub(crate) fn update_call(&self, call_id: &str, change: impl FnOnce(&mut CallRecord)) {
        if let Some(call) = lock(&self.inner.telephony)
            .calls
            .iter_mut()
            .rev()
            .find(|c| c.call_id == call_id)
        {
            change(call);
        }
    }

    /// Configures how `user`'s phone behaves on the next calls.
    pub fn set_phone_behaviour(
        &self,
        user: &str,
        behaviour: PhoneBehaviour,
    ) -> Result<(), SandboxError> {
        let id = self.user_id(user)?;
        lock(&self.inner.telephony).phones.insert(id, behaviour);
        Ok(())
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.inner.telephony).calls.clone()
    }

    /// One call by SIP Call-ID.
    pub fn call(&self, call_id: &str) -> Option<CallRecord> {
        lock(&self.inner.telephony)
            .calls
            .iter()
            .rev()
            .find(|c| c.call_id == call_id)
            .cloned()
    }

    /// Where the proxies listen.
    pub fn sip_addrs(&self) -> Vec<SipProxyAddrs> {
        lock(&self.inner.telephony)
            .proxies
            .iter()
            .map(|(_, addrs)| addrs.clone())
            .collect()
    }

    fn proxy(&self, name: &str) -> Result<SipProxy, SandboxError> {
        lock(&self.inner.telephony)
            .proxies
            .iter()
            .find(|(p, _)| p.name == name)
            .map(|(p, _)| p.clone())
            .ok_or_else(|| SandboxError::ApiMisuse(format!("no SIP proxy {name:?}")))
    }

    /// Makes proxy `name` answer every new INVITE with 503 and this Retry-After (`None` heals).
    pub fn set_proxy_unavailable(
        &self,
        name: &str,
        retry_after: Option<u32>,
    ) -> Result<(), SandboxError> {
        self.proxy(name)?.set_unavailable(retry_after);
        Ok(())
    }

    /// `user` dials `number` from the Teams client: the first proxy with a healthy SBC sends
    /// the INVITE. Returns the Call-ID.
    pub async fn dial(&self, user: &str, number: &str) -> Result<String, SandboxError> {
        let (_, seed) = self
            .inner
            .directory
            .user(user)
            .ok_or_else(|| SandboxError::ApiMisuse(format!("no Teams user {user:?}")))?;
        let from = seed.phone.clone().ok_or_else(|| {
            SandboxError::ApiMisuse(format!("{user:?} has no Teams Phone number"))
        })?;
        let id = seed.id.clone();
        let proxies: Vec<SipProxy> = lock(&self.inner.telephony)
            .proxies
            .iter()
            .map(|(p, _)| p.clone())
            .collect();
        let proxy = proxies
            .into_iter()
            .find(SipProxy::sbc_healthy)
            .ok_or_else(|| {
                SandboxError::ApiMisuse("no proxy has a healthy SBC (OPTIONS both ways)".to_owned())
            })?;
        proxy
            .dial(&id, &from, number)
            .await
            .map_err(SandboxError::ApiMisuse)
    }

    /// The Teams user hangs up call `call_id`.
    pub async fn hang_up(&self, call_id: &str) -> Result<(), SandboxError> {
        let name = self
            .call(call_id)
            .map(|c| c.proxy)
            .ok_or_else(|| SandboxError::ApiMisuse(format!("no call {call_id:?}")))?;
        self.proxy(&name)?.hang_up(call_id).await;
        Ok(())
    }

    /// The Teams user picks up ringing call `call_id` (an inbound call; see
    /// [`Answer::Manual`](super::Answer::Manual)). The phone plays what its behaviour says at
    /// this moment. An error, and no second 200 OK, if the call is unknown or no longer ringing.
    pub fn answer_call(&self, call_id: &str) -> Result<(), SandboxError> {
        self.decide(call_id, Decision::Answer)
    }

    /// The Teams user declines ringing call `call_id` (603 Decline); errors as
    /// [`answer_call`](Self::answer_call).
    pub fn decline_call(&self, call_id: &str) -> Result<(), SandboxError> {
        self.decide(call_id, Decision::Decline)
    }

    fn decide(&self, call_id: &str, decision: Decision) -> Result<(), SandboxError> {
        let call = self
            .call(call_id)
            .ok_or_else(|| SandboxError::ApiMisuse(format!("no call {call_id:?}")))?;
        if call.direction != super::CallDirection::Inbound || call.state != "ringing" {
            return Err(SandboxError::ApiMisuse(format!(
                "call {call_id:?} is not ringing (it is {})",
                call.state
            )));
        }
        self.proxy(&call.proxy)?
            .decide(call_id, decision)
            .map_err(SandboxError::ApiMisuse)
    }

    /// The Teams user puts call `call_id` on hold.
    pub async fn hold(&self, call_id: &str) -> Result<(), SandboxError> {
        let name = self
            .call(call_id)
            .map(|c| c.proxy)
            .ok_or_else(|| SandboxError::ApiMisuse(format!("no call {call_id:?}")))?;
        self.proxy(&name)?.hold(call_id).await;
        Ok(())
    }
}
