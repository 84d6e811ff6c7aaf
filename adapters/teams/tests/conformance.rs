//! The shared adapter conformance suite for the Teams adapter, against the Microsoft sandbox.
//!
//! The signed inbound request is a Graph rich change notification (reference `teams-graph.md`
//! §4.4–§4.6): it is authenticated by its `clientState`, its items' HMAC-SHA256
//! `dataSignature` and its `validationTokens` JWTs. The target builds them as Graph does:
//! presence JSON encrypted with AES-CBC under a per-item key wrapped with RSA-OAEP to the
//! adapter's certificate, signed with HMAC, and a validation token signed by an Entra key the
//! adapter fetches from Entra's JWKS (here a JWKS served in front of the sandbox's Entra, since
//! the sandbox keeps its own signing key to itself). The AES key is derived from the event id,
//! so the same event encrypts to the same data (the retry Graph sends) and gets the same
//! event id. Forgeries: no `clientState` (unsigned), a `dataSignature` over other data, a
//! validation token expired 301 s before receipt, or not valid until 301 s after.
//!
//! Commands: `SetPresence` (idempotent, Graph `/v1.0/users/…/presence`) and `SendNotice`
//! through the bot (not idempotent, Bot Connector `/amer/v3/conversations/…`), each checked
//! against what the sandbox's Teams shows.

mod graph_support;

use std::sync::Arc;

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OAEP_SHA1_MGF1SHA1, OaepPublicEncryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use aws_lc_rs::{digest, hmac};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use callbridge_adapter::conformance::{CommandCase, ConformanceTarget, Delivery, Forgery};
use callbridge_adapter::{
    BoxFuture, InboundRequest, MemoryVault, PlatformAdapter, Secret, TokenKey, TokenSet, TokenVault,
};
use callbridge_model::{
    Activity, Availability, Notice, Platform, PlatformCommand, PlatformEvent, Presence,
    PresenceOrigin, PresenceSource, UserRef,
};
use callbridge_sandbox::microsoft::MicrosoftState;
use chrono::{DateTime, Utc};
use graph_support::{ALICE, CLIENT, Harness, Options, TENANT, start};
use serde_json::{Value, json};

const CLIENT_STATE: &str = "conformance-client-state-0123456789abcdef0123456789abcdef";
const PUBLISHER: &str = "0bf30f3b-4a52-48df-9a82-234910c4a086";
const KID: &str = "conformance-entra-key";

struct TeamsTarget {
    harness: Harness,
    signing: KeyPair,
    spki: Vec<u8>,
}

fn jwks(signing: &KeyPair) -> Value {
    let public = signing.public_key();
    json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
        "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
        "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
    }]})
}

impl TeamsTarget {
    async fn new() -> Self {
        let signing = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let (certificate, spki) = graph_support::notification_certificate_and_key();
        // The clientState the adapter's subscriptions carry, known to the "platform".
        let vault = Arc::new(MemoryVault::default());
        vault
            .store(
                &TokenKey::new(Platform::Teams, format!("client-state:{TENANT}")),
                &TokenSet {
                    access_token: Secret::new(CLIENT_STATE),
                    refresh_token: None,
                    expires_at: None,
                    scopes: Vec::new(),
                },
            )
            .await
            .unwrap();
        let harness = start(Options {
            vault: Some(vault),
            certificate: Some(certificate),
            entra_keys: Some(jwks(&signing)),
            ..Options::default()
        })
        .await;
        Self {
            harness,
            signing,
            spki,
        }
    }

    fn validation_token(&self, issued: DateTime<Utc>, not_before: i64, expires: i64) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": KID});
        let claims = json!({
            "aud": CLIENT, "iss": format!("https://sts.windows.net/{TENANT}/"),
            "iat": issued.timestamp(), "nbf": not_before, "exp": expires,
            "appid": PUBLISHER, "appidacr": "2", "tid": TENANT, "ver": "1.0",
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.signing.public_modulus_len()];
        self.signing
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The encrypted content of Alice's presence for `event_id`; with `sign_other` the HMAC is
    /// computed over other bytes than the data sent.
    fn encrypted(&self, event_id: &str, sign_other: bool) -> Value {
        let key: [u8; 32] = digest::digest(&digest::SHA256, event_id.as_bytes())
            .as_ref()
            .try_into()
            .unwrap();
        let plaintext = json!({
            "@odata.id": format!("users/{ALICE}/presence"),
            "@odata.type": "#microsoft.graph.presence",
            "id": ALICE, "availability": "Busy", "activity": "InACall",
        })
        .to_string();
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key[..16]);
        let encrypting =
            PaddedBlockEncryptingKey::cbc_pkcs7(UnboundCipherKey::new(&AES_256, &key).unwrap())
                .unwrap();
        let mut data = plaintext.into_bytes();
        encrypting
            .less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv)))
            .unwrap();
        let signed: &[u8] = if sign_other {
            b"other data entirely"
        } else {
            &data
        };
        let signature = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), signed);
        let public = PublicEncryptingKey::from_der(&self.spki).unwrap();
        let oaep = OaepPublicEncryptingKey::new(public).unwrap();
        let mut wrapped = vec![0u8; oaep.ciphertext_size()];
        let wrapped = oaep
            .encrypt(&OAEP_SHA1_MGF1SHA1, &key, &mut wrapped, None)
            .unwrap();
        json!({
            "data": STANDARD.encode(&data),
            "dataSignature": STANDARD.encode(signature.as_ref()),
            "dataKey": STANDARD.encode(wrapped),
            "encryptionCertificateId": "callbridge-notifications-1",
            "encryptionCertificateThumbprint": "00",
        })
    }

    fn request(body: &Value, received_at: DateTime<Utc>) -> InboundRequest {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        InboundRequest {
            method: http::Method::POST,
            path: "/notifications".to_owned(),
            query: None,
            headers,
            body: serde_json::to_vec(body).unwrap().into(),
            received_at,
        }
    }

    fn batch(
        &self,
        event_id: &str,
        forgery: Option<Forgery>,
        received_at: DateTime<Utc>,
    ) -> (Value, Value) {
        let content = self.encrypted(event_id, forgery == Some(Forgery::SignedOverAnotherBody));
        let mut item = json!({
            "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
            "changeType": "updated",
            "resource": format!("communications/presences?$filter=id+in+(%27{ALICE}%27)"),
            "subscriptionExpirationDateTime": "2026-12-03T23:58:00.000Z",
            "resourceData": {"@odata.type": "#Microsoft.Graph.presence",
                             "@odata.id": format!("users/{ALICE}/presence"), "id": ALICE},
            "tenantId": TENANT, "organizationId": TENANT,
            "clientState": CLIENT_STATE,
            "encryptedContent": content,
        });
        if forgery == Some(Forgery::Unsigned) {
            item.as_object_mut().unwrap().remove("clientState");
        }
        let now = received_at.timestamp();
        let token = match forgery {
            Some(Forgery::Stale) => self.validation_token(received_at, now - 3901, now - 301),
            Some(Forgery::FromTheFuture) => {
                self.validation_token(received_at, now + 301, now + 3901)
            }
            _ => self.validation_token(received_at, now, now + 3600),
        };
        (
            json!({"value": [item], "validationTokens": [token]}),
            content,
        )
    }
}

fn expected(content: &Value) -> PlatformEvent {
    let data = content["data"].as_str().unwrap();
    let digest = digest::digest(&digest::SHA256, data.as_bytes());
    PlatformEvent::PresenceChanged {
        event_id: format!("graph-presence:{}", hex::encode(&digest.as_ref()[..20]))
            .parse()
            .unwrap(),
        user: UserRef::Teams {
            tenant: TENANT.parse().unwrap(),
            user: ALICE.parse().unwrap(),
        },
        presence: Presence {
            availability: Availability::Busy,
            activity: Some(Activity::parse("InACall").unwrap()),
            status_text: None,
            status_emoji: None,
            expires_at: None,
            source: PresenceSource {
                platform: Platform::Teams,
                origin: PresenceOrigin::Automatic,
                fingerprint: None,
            },
        },
    }
}

fn shown(state: &MicrosoftState) -> (String, String) {
    let shown = state.presence_of(ALICE).unwrap();
    (shown.availability, shown.activity)
}

impl ConformanceTarget for TeamsTarget {
    fn adapter(&self) -> Arc<dyn PlatformAdapter> {
        Arc::clone(&self.harness.adapter) as Arc<dyn PlatformAdapter>
    }

    fn sandbox_url(&self) -> String {
        self.harness.sandbox.base_url()
    }

    fn signed_event<'a>(&'a self, event_id: &'a str) -> BoxFuture<'a, Delivery> {
        Box::pin(async move {
            let received_at = Utc::now();
            let (body, content) = self.batch(event_id, None, received_at);
            Delivery {
                request: Self::request(&body, received_at),
                events: vec![expected(&content)],
            }
        })
    }

    fn forged_event<'a>(
        &'a self,
        event_id: &'a str,
        forgery: Forgery,
    ) -> BoxFuture<'a, InboundRequest> {
        Box::pin(async move {
            let received_at = Utc::now();
            let (body, _) = self.batch(event_id, Some(forgery), received_at);
            Self::request(&body, received_at)
        })
    }

    fn unknown_event(&self) -> BoxFuture<'_, InboundRequest> {
        Box::pin(async move {
            // A lifecycle event Graph may add tomorrow, properly authenticated.
            let body = json!({"value": [{
                "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                "subscriptionExpirationDateTime": "2026-12-03T23:58:00.000Z",
                "tenantId": TENANT, "clientState": CLIENT_STATE,
                "lifecycleEvent": "subscriptionPausedForMaintenance",
            }]});
            let mut request = Self::request(&body, Utc::now());
            request.path = "/lifecycle".to_owned();
            request
        })
    }

    fn command_cases(&self) -> BoxFuture<'_, Vec<CommandCase>> {
        Box::pin(async move {
            let sandbox = &self.harness.sandbox;
            // Alice talks to the bot once, so it has a conversation to write to.
            sandbox
                .set_messaging_endpoint(CLIENT, &format!("{}/messages", self.harness.public_base));
            sandbox.message_bot(ALICE, "help").await.unwrap();
            let before = sandbox.bot_messages(ALICE).unwrap().len();

            let state: MicrosoftState = (**sandbox).clone();
            let presence = PlatformCommand::SetPresence {
                user: UserRef::Teams {
                    tenant: TENANT.parse().unwrap(),
                    user: ALICE.parse().unwrap(),
                },
                presence: Presence {
                    availability: Availability::Busy,
                    activity: Some(Activity::parse("InACall").unwrap()),
                    status_text: None,
                    status_emoji: None,
                    expires_at: None,
                    source: PresenceSource {
                        platform: Platform::Slack,
                        origin: PresenceOrigin::Callbridge,
                        fingerprint: None,
                    },
                },
            };
            let presence_state = state.clone();
            let set_presence = CommandCase::new(
                "set presence",
                presence,
                true,
                format!("/v1.0/users/{ALICE}/presence/"),
                move |_| async move {
                    let now = shown(&presence_state);
                    if now == ("Busy".to_owned(), "InACall".to_owned()) {
                        Ok(())
                    } else {
                        Err(format!("Teams shows {now:?}"))
                    }
                },
            );
            let notice = PlatformCommand::SendNotice {
                to: UserRef::Teams {
                    tenant: TENANT.parse().unwrap(),
                    user: ALICE.parse().unwrap(),
                },
                notice: Notice::Info {
                    text: "Bob is in a call".to_owned(),
                },
            };
            let send_notice = CommandCase::new(
                "send notice",
                notice,
                false,
                "/amer/v3/conversations/",
                move |_| async move {
                    let messages = state.bot_messages(ALICE).map_err(|e| e.to_string())?;
                    let posted = messages
                        .iter()
                        .skip(before)
                        .any(|m| m.activity.to_string().contains("Bob is in a call"));
                    if posted {
                        Ok(())
                    } else {
                        Err("the notice is not in Alice's chat".to_owned())
                    }
                },
            );
            vec![set_presence, send_notice]
        })
    }
}

callbridge_adapter::conformance_suite!(TeamsTarget::new());
