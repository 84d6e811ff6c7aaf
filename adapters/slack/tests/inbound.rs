//! Inbound verification and bad input (slack-api.md §2, §3, §9, §11): every request is checked
//! on its raw bytes before anything reads it; stale, future, unsigned, mis-signed or mutated
//! requests are refused as unauthenticated and change nothing; malformed bodies get a clear
//! rejection and never a panic; retried events are dropped by the inbox.

mod common;

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode};
use callbridge_adapter::{
    AdapterError, MemoryInbox, MemoryVault, PlatformAdapter, TokenVault, accept,
};
use callbridge_model::PlatformEvent;
use callbridge_slack::{SlackAdapter, SlackConfig, SlackOptions, SlackSettings, bot_key};
use chrono::{DateTime, Utc};
use common::{BOB, Harness, SECRET, TEAM, signed_headers};
use proptest::prelude::*;

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

fn command_body(text: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "sandboxVerificationTok")
        .append_pair("team_id", TEAM)
        .append_pair("team_domain", "demo")
        .append_pair("channel_id", "D0DEMO0001")
        .append_pair("user_id", BOB)
        .append_pair("command", "/call")
        .append_pair("text", text)
        .append_pair(
            "response_url",
            "https://hooks.slack.com/commands/T0DEMOTEAM/1/abc",
        )
        .append_pair("trigger_id", "1337.42.abcdef")
        .append_pair("api_app_id", "A0CALLBRDG")
        .finish()
}

fn revoked_body(event_id: &str) -> String {
    serde_json::json!({
        "token": "sandboxVerificationTok", "team_id": TEAM, "api_app_id": "A0CALLBRDG",
        "type": "event_callback", "event_id": event_id, "event_time": 1,
        "event": {"type": "tokens_revoked", "tokens": {"oauth": [BOB], "bot": ["U0DEMOBOT0"]}},
    })
    .to_string()
}

/// An adapter needing no Slack at all: inbound handling only.
async fn offline() -> (SlackAdapter, Arc<MemoryVault>) {
    let vault = Arc::new(MemoryVault::default());
    common::store_seed_tokens(&vault, &callbridge_sandbox::slack::SlackSeed::demo()).await;
    let config = SlackConfig::parse(SlackSettings {
        api_base_url: Some("http://127.0.0.1:9/api/".into()),
        client_id: "1000000001.2000000002".into(),
        client_secret: "demo-client-secret".into(),
        signing_secret: SECRET.into(),
        previous_signing_secret: Some("old-signing-secret".into()),
        public_url: "https://calls.example.com/".into(),
        app_id: "A0CALLBRDG".into(),
        ..SlackSettings::default()
    })
    .unwrap();
    (
        SlackAdapter::new(config, vault.clone(), SlackOptions::default()).unwrap(),
        vault,
    )
}

fn request(
    path: &str,
    headers: HeaderMap,
    body: impl Into<bytes::Bytes>,
    at: DateTime<Utc>,
) -> callbridge_adapter::InboundRequest {
    callbridge_adapter::InboundRequest {
        method: Method::POST,
        path: path.to_owned(),
        query: None,
        headers,
        body: body.into(),
        received_at: at,
    }
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

#[tokio::test]
async fn stale_future_missing_and_wrong_signatures_are_refused_and_run_nothing() {
    let (adapter, vault) = offline().await;
    let body = revoked_body("Ev0001");
    let now = at().timestamp();
    let mut cases: Vec<(&str, HeaderMap)> = vec![
        (
            "301 s old",
            signed_headers(SECRET, JSON, now - 301, body.as_bytes()),
        ),
        (
            "301 s ahead",
            signed_headers(SECRET, JSON, now + 301, body.as_bytes()),
        ),
        (
            "another secret",
            signed_headers("not-the-secret", JSON, now, body.as_bytes()),
        ),
        ("another body", signed_headers(SECRET, JSON, now, b"{}")),
    ];
    let mut missing_signature = signed_headers(SECRET, JSON, now, body.as_bytes());
    missing_signature.remove("x-slack-signature");
    cases.push(("no signature", missing_signature));
    let mut missing_timestamp = signed_headers(SECRET, JSON, now, body.as_bytes());
    missing_timestamp.remove("x-slack-request-timestamp");
    cases.push(("no timestamp", missing_timestamp));
    let mut v1 = signed_headers(SECRET, JSON, now, body.as_bytes());
    let v0 = v1["x-slack-signature"]
        .to_str()
        .unwrap()
        .replacen("v0=", "v1=", 1);
    v1.insert("x-slack-signature", v0.parse().unwrap());
    cases.push(("version v1", v1));
    let inbox = MemoryInbox::default();
    for (case, headers) in cases {
        let result = accept(
            &adapter,
            &inbox,
            request("/events", headers, body.clone(), at()),
        )
        .await;
        assert!(
            matches!(result, Err(AdapterError::Unauthenticated(_))),
            "{case}: {result:?}"
        );
    }
    // Nothing ran: the tokens the forged revocation named are still there.
    assert!(vault.load(&bot_key(TEAM)).await.unwrap().is_some());
    // The same body, properly signed 300 s ago, is accepted and does run.
    let headers = signed_headers(SECRET, JSON, now - 300, body.as_bytes());
    let inbound = accept(&adapter, &inbox, request("/events", headers, body, at()))
        .await
        .unwrap();
    assert!(matches!(
        inbound.events.as_slice(),
        [PlatformEvent::InstallationRevoked { .. }]
    ));
    assert!(vault.load(&bot_key(TEAM)).await.unwrap().is_none());
}

#[tokio::test]
async fn the_previous_signing_secret_is_accepted_during_a_rotation() {
    let (adapter, _) = offline().await;
    let body = command_body("+14155550100");
    let headers = signed_headers(
        "old-signing-secret",
        FORM,
        at().timestamp(),
        body.as_bytes(),
    );
    let inbound = adapter
        .handle_inbound(request("/commands", headers, body, at()))
        .await
        .unwrap();
    assert_eq!(inbound.events.len(), 1);
}

#[tokio::test]
async fn a_replayed_command_from_the_sandbox_gets_401_and_runs_nothing() {
    let h = Harness::demo().await;
    for (skew, corrupt) in [(-301, false), (301, false), (0, true)] {
        h.signing_knobs(skew, corrupt).await;
        let outcome = h
            .slack
            .type_slash_command(BOB, "/call +14155550100")
            .await
            .unwrap();
        assert_eq!(outcome.status, Some(401), "skew {skew} corrupt {corrupt}");
        assert_eq!(outcome.error.as_deref(), Some("dispatch_failed"));
    }
    assert!(h.events().is_empty());
    assert!(
        h.rejections()
            .iter()
            .all(|(status, _)| *status == StatusCode::UNAUTHORIZED)
    );
    h.signing_knobs(0, false).await;
    let outcome = h
        .slack
        .type_slash_command(BOB, "/call +14155550100")
        .await
        .unwrap();
    assert_eq!(outcome.status, Some(200));
    assert_eq!(h.events().len(), 1);
}

#[tokio::test]
async fn malformed_bodies_are_rejected_clearly_without_panicking() {
    let (adapter, _) = offline().await;
    let now = at().timestamp();
    let two_mib = "a=".to_owned() + &"b".repeat(2 * 1024 * 1024);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/commands", FORM, vec![b't', b'e', b'x', b't', b'=', 0xff, 0xfe]),
        ("/commands", FORM, b"team_id=T0DEMOTEAM&team_id=T0OTHER".to_vec()),
        ("/commands", FORM, command_body("x").replace("user_id", "user_xx").into_bytes()),
        ("/commands", FORM, command_body("x").replace("team_id=T0DEMOTEAM", "team_id=nonsense").into_bytes()),
        ("/commands", FORM, command_body("x").replace("trigger_id", "trigger_xx").into_bytes()),
        ("/commands", JSON, command_body("x").into_bytes()),
        ("/commands", FORM, two_mib.clone().into_bytes()),
        ("/interactivity", FORM, b"payload=%7Bnot+json".to_vec()),
        ("/interactivity", FORM, b"payload=%5B1%2C2%5D".to_vec()),
        ("/interactivity", FORM, b"nopayload=1".to_vec()),
        ("/interactivity", FORM, b"payload=%7B%22type%22%3A%22block_actions%22%7D".to_vec()),
        ("/events", JSON, b"{\"type\": \"event_callback\"".to_vec()),
        ("/events", JSON, b"{\"type\": \"event_callback\", \"event_id\": \"Ev1\"}".to_vec()),
        ("/events", JSON, b"[]".to_vec()),
        ("/events", JSON, b"{\"type\":\"event_callback\",\"event_id\":\"Ev1\",\"team_id\":\"T0DEMOTEAM\",\"event\":{\"type\":\"user_change\"}}".to_vec()),
        ("/events", JSON, two_mib.into_bytes()),
    ];
    for (path, content_type, body) in cases {
        let headers = signed_headers(SECRET, content_type, now, &body);
        let result = adapter
            .handle_inbound(request(path, headers, body.clone(), at()))
            .await;
        let Err(AdapterError::Malformed(why)) = result else {
            panic!(
                "{path} {}: {result:?}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            );
        };
        assert!(!why.is_empty());
    }
    // Unknown routes and methods are refused too.
    let result = adapter
        .handle_inbound(callbridge_adapter::InboundRequest {
            method: Method::GET,
            ..request("/events", HeaderMap::new(), "", at())
        })
        .await;
    assert!(matches!(result, Err(AdapterError::Malformed(_))));
    let result = adapter
        .handle_inbound(request("/nowhere", HeaderMap::new(), "", at()))
        .await;
    assert!(matches!(result, Err(AdapterError::Malformed(_))));
}

#[tokio::test]
async fn unknown_event_and_action_types_are_acked_and_ignored() {
    let (adapter, _) = offline().await;
    let now = at().timestamp();
    let event = serde_json::json!({"type": "event_callback", "event_id": "Ev9", "team_id": TEAM,
        "event": {"type": "reaction_added", "user": BOB}})
    .to_string();
    let action = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(
            serde_json::json!({"type": "block_actions", "team": {"id": TEAM}, "user": {"id": BOB},
                "trigger_id": "1.2.3", "actions": [{"action_id": "someone_elses", "value": "x"}]})
            .to_string()
            .as_bytes()
        )
        .collect::<String>()
    );
    let view = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(b"{\"type\":\"view_submission\"}").collect::<String>()
    );
    for (path, content_type, body) in [
        ("/events", JSON, event),
        ("/interactivity", FORM, action),
        ("/interactivity", FORM, view),
    ] {
        let headers = signed_headers(SECRET, content_type, now, body.as_bytes());
        let inbound = adapter
            .handle_inbound(request(path, headers, body, at()))
            .await
            .unwrap();
        assert_eq!(inbound.reply.status, StatusCode::OK);
        assert!(inbound.events.is_empty());
    }
}

#[tokio::test]
async fn url_verification_echoes_the_challenge() {
    let (adapter, _) = offline().await;
    let body = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let headers = signed_headers(SECRET, JSON, at().timestamp(), body.as_bytes());
    let inbound = adapter
        .handle_inbound(request("/events", headers, body, at()))
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&inbound.reply.body).unwrap();
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test]
async fn a_retried_event_is_deduplicated_by_the_inbox() {
    let (adapter, _) = offline().await;
    let inbox = MemoryInbox::default();
    let body = serde_json::json!({"type": "event_callback", "event_id": "Ev42", "team_id": TEAM,
        "event": {"type": "user_change", "user": {"id": BOB, "profile": {"status_text": "Lunch", "status_emoji": ":taco:"}}}})
    .to_string();
    let mut fresh = 0;
    for retry in 0..3 {
        let mut headers = signed_headers(SECRET, JSON, at().timestamp(), body.as_bytes());
        if retry > 0 {
            headers.insert("x-slack-retry-num", retry.to_string().parse().unwrap());
        }
        fresh += accept(
            &adapter,
            &inbox,
            request("/events", headers, body.clone(), at()),
        )
        .await
        .unwrap()
        .events
        .len();
    }
    assert_eq!(fresh, 1);
}

/// One way to damage a signed request.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBodyBit { index: usize, bit: u8 },
    Truncate { keep: usize },
    Append(Vec<u8>),
    ShiftTimestamp(i64),
    FlipSignatureChar { index: usize },
    DropHeader(bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(index, bit)| Mutation::FlipBodyBit { index, bit }),
        any::<usize>().prop_map(|keep| Mutation::Truncate { keep }),
        proptest::collection::vec(any::<u8>(), 1..16).prop_map(Mutation::Append),
        prop_oneof![(-100_000i64..-301), (301i64..100_000)].prop_map(Mutation::ShiftTimestamp),
        (3usize..67).prop_map(|index| Mutation::FlipSignatureChar { index }),
        any::<bool>().prop_map(Mutation::DropHeader),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_mutation_of_a_signed_request_is_accepted(
        mutations in proptest::collection::vec(mutation(), 1..4),
        path in prop_oneof![Just("/commands"), Just("/events")],
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let (adapter, vault) = offline().await;
            let (content_type, original) = if path == "/commands" {
                (FORM, command_body("+14155550100").into_bytes())
            } else {
                (JSON, revoked_body("Ev77").into_bytes())
            };
            let mut body = original.clone();
            let mut ts = at().timestamp();
            let mut signature = callbridge_sandbox::slack::sign_v0(SECRET, ts, &original).into_bytes();
            let mut drop = None;
            for m in &mutations {
                match m {
                    // An earlier truncation may have emptied the body: nothing to flip or cut.
                    Mutation::FlipBodyBit { index, bit } if !body.is_empty() => {
                        let i = index % body.len();
                        body[i] ^= 1 << bit;
                    }
                    Mutation::Truncate { keep } if !body.is_empty() => body.truncate(keep % body.len()),
                    Mutation::FlipBodyBit { .. } | Mutation::Truncate { .. } => {}
                    Mutation::Append(extra) => body.extend_from_slice(extra),
                    Mutation::ShiftTimestamp(by) => ts += by,
                    Mutation::FlipSignatureChar { index } => {
                        let c = signature[*index];
                        signature[*index] = if c == b'0' { b'1' } else { b'0' };
                    }
                    Mutation::DropHeader(which) => drop = Some(*which),
                }
            }
            let mut headers = HeaderMap::new();
            headers.insert("content-type", content_type.parse().unwrap());
            if drop != Some(true) {
                headers.insert("x-slack-request-timestamp", ts.to_string().parse().unwrap());
            }
            if drop != Some(false) {
                headers.insert("x-slack-signature", String::from_utf8(signature).unwrap().parse().unwrap());
            }
            let changed = body != original || ts != at().timestamp() || drop.is_some()
                || headers.get("x-slack-signature").is_some_and(|s| s.to_str().unwrap() != callbridge_sandbox::slack::sign_v0(SECRET, at().timestamp(), &original));
            let result = adapter.handle_inbound(request(path, headers, body, at())).await;
            if changed {
                prop_assert!(result.is_err(), "a mutated request was accepted: {:?}", mutations);
                prop_assert!(vault.load(&bot_key(TEAM)).await.unwrap().is_some());
            }
            Ok(())
        })?;
    }
}
