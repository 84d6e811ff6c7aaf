//! What each verified activity means (reference `teams-graph.md` §5.1, §5.4): the command
//! forms, mentions, both card-action transports, installs and uninstalls, and what is ignored.

use callbridge_model::{CallId, CallTarget, LegId, PlatformEvent, TerminationCause, UserRef};
use callbridge_teams::bot::{Activity, BotInbound, translate_activity};
use serde_json::{Value, json};

const APP: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";
const TENANT: &str = "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b";
const ALICE: &str = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b";
const CAROL: &str = "5b4c3d2e-7f6a-4b80-8c9d-2e1f3a4b5c6d";

fn activity(kind: &str, extra: &Value) -> Activity {
    let mut base = json!({
        "type": kind, "id": "1485983408511", "serviceUrl": "https://smba.trafficmanager.net/amer/",
        "channelId": "msteams",
        "from": {"id": "29:1alice", "name": "Alice Adams", "aadObjectId": ALICE},
        "conversation": {"id": "a:1conv", "conversationType": "personal", "tenantId": TENANT},
        "recipient": {"id": format!("28:{APP}"), "name": "callbridge"},
        "channelData": {"tenant": {"id": TENANT}},
    });
    base.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(base).unwrap()
}

fn message(text: &str) -> Activity {
    activity("message", &json!({"text": text, "textFormat": "plain"}))
}

fn target_of(inbound: &BotInbound) -> CallTarget {
    match inbound {
        BotInbound::Call {
            event:
                PlatformEvent::CallRequested {
                    target,
                    event_id,
                    caller,
                },
            ..
        } => {
            assert_eq!(event_id.as_str(), "1485983408511");
            assert_eq!(
                caller,
                &UserRef::Teams {
                    tenant: TENANT.parse().unwrap(),
                    user: ALICE.parse().unwrap()
                }
            );
            target.clone()
        }
        other => panic!("not a call: {other:?}"),
    }
}

fn invalid_text(inbound: &BotInbound) -> String {
    match inbound {
        BotInbound::Invalid { text, .. } => text.clone(),
        other => panic!("not invalid: {other:?}"),
    }
}

#[test]
fn email_and_phone_commands() {
    assert_eq!(
        target_of(&translate_activity(&message("call carol@contoso.test"))),
        CallTarget::Email("carol@contoso.test".parse().unwrap())
    );
    assert_eq!(
        target_of(&translate_activity(&message(
            "  CALL   mailto:Carol@Contoso.test "
        ))),
        CallTarget::Email("carol@contoso.test".parse().unwrap())
    );
    assert_eq!(
        target_of(&translate_activity(&message("call +44 20 7946 0958"))),
        CallTarget::Phone("+442079460958".parse().unwrap())
    );
    assert!(invalid_text(&translate_activity(&message("call +0123"))).contains("international"));
    assert!(invalid_text(&translate_activity(&message("call carol@"))).contains("email"));
    assert!(invalid_text(&translate_activity(&message("call"))).contains("Whom"));
    assert!(invalid_text(&translate_activity(&message("call carol"))).contains("Whom"));
}

#[test]
fn a_mention_entity_names_the_user_and_the_bot_mention_is_dropped() {
    let with_mentions = activity(
        "message",
        &json!({
            "text": "<at>callbridge</at> call <at>Carol Clark</at>",
            "entities": [
                {"type": "mention", "text": "<at>callbridge</at>", "mentioned": {"id": format!("28:{APP}"), "name": "callbridge"}},
                {"type": "mention", "text": "<at>Carol Clark</at>", "mentioned": {"id": "29:1carol", "name": "Carol Clark", "aadObjectId": CAROL}},
                {"type": "clientInfo", "locale": "en-US"},
            ],
        }),
    );
    assert_eq!(
        target_of(&translate_activity(&with_mentions)),
        CallTarget::User(UserRef::Teams {
            tenant: TENANT.parse().unwrap(),
            user: CAROL.parse().unwrap()
        })
    );
    // A mention without an Entra object id cannot be resolved without a lookup: say so.
    let bare = activity(
        "message",
        &json!({
            "text": "call <at>Carol Clark</at>",
            "entities": [{"type": "mention", "text": "<at>Carol Clark</at>", "mentioned": {"id": "29:1carol", "name": "Carol Clark"}}],
        }),
    );
    assert!(invalid_text(&translate_activity(&bare)).contains("email"));
    // "@name" typed without picking the person is not a mention.
    assert!(invalid_text(&translate_activity(&message("call @carol"))).contains("@carol"));
}

#[test]
fn help_and_unknown_text() {
    assert!(matches!(
        translate_activity(&message("Help")),
        BotInbound::Help { reference: Some(_) }
    ));
    assert!(invalid_text(&translate_activity(&message("dance"))).contains("did not understand"));
    assert!(matches!(
        translate_activity(&message("   ")),
        BotInbound::Ignored { .. }
    ));
}

#[test]
fn a_user_without_an_entra_id_cannot_call() {
    let mut guest = message("call carol@contoso.test");
    guest.from.as_mut().unwrap().aad_object_id = None;
    let inbound = translate_activity(&guest);
    assert!(invalid_text(&inbound).contains("organisation"));
    assert!(inbound.events().is_empty());
}

#[test]
fn card_actions_through_execute_and_submit() {
    let target = CallTarget::Email("bob@example.com".parse().unwrap());
    let execute = activity(
        "invoke",
        &json!({"name": "adaptiveCard/action", "value": {"action": {
            "type": "Action.Execute", "verb": "callBack", "data": {"target": target}}}}),
    );
    let inbound = translate_activity(&execute);
    assert!(matches!(inbound, BotInbound::Call { invoke: true, .. }));
    assert_eq!(target_of(&inbound), target);

    // Action.Submit: a message without text whose value holds the button's data.
    let submit = activity(
        "message",
        &json!({"value": {"verb": "callBack", "target": target}}),
    );
    let inbound = translate_activity(&submit);
    assert!(matches!(inbound, BotInbound::Call { invoke: false, .. }));
    assert_eq!(target_of(&inbound), target);

    let (call, leg) = (CallId::generate(), LegId::generate());
    let decline = activity(
        "invoke",
        &json!({"name": "adaptiveCard/action", "value": {"action": {
            "type": "Action.Execute", "verb": "decline", "data": {"call": call.to_string(), "leg": leg.to_string()}}}}),
    );
    assert_eq!(
        translate_activity(&decline).events(),
        vec![PlatformEvent::LegEnded {
            call,
            leg,
            cause: TerminationCause::Declined
        }]
    );
    let tampered = activity(
        "invoke",
        &json!({"name": "adaptiveCard/action", "value": {"action": {
            "type": "Action.Execute", "verb": "decline", "data": {"call": "not-a-uuid", "leg": leg.to_string()}}}}),
    );
    assert!(matches!(
        translate_activity(&tampered),
        BotInbound::Invalid { invoke: true, .. }
    ));
    let other_verb = activity(
        "invoke",
        &json!({"name": "adaptiveCard/action", "value": {"action": {"type": "Action.Execute", "verb": "dance"}}}),
    );
    assert!(matches!(
        translate_activity(&other_verb),
        BotInbound::Ignored { .. }
    ));
}

#[test]
fn installs_are_remembered_and_uninstalls_forgotten() {
    let install = activity(
        "conversationUpdate",
        &json!({"membersAdded": [{"id": format!("28:{APP}")}]}),
    );
    match translate_activity(&install) {
        BotInbound::Installed { reference } => {
            assert_eq!(reference.aad_object_id, ALICE);
            assert_eq!(reference.conversation_id, "a:1conv");
            assert_eq!(reference.bot_id, format!("28:{APP}"));
        }
        other => panic!("{other:?}"),
    }
    let uninstall = activity(
        "conversationUpdate",
        &json!({"membersRemoved": [{"id": format!("28:{APP}")}]}),
    );
    assert_eq!(
        translate_activity(&uninstall),
        BotInbound::Uninstalled {
            aad_object_id: ALICE.to_owned()
        }
    );
    let someone_else = activity(
        "conversationUpdate",
        &json!({"membersAdded": [{"id": "29:1someone"}]}),
    );
    assert!(matches!(
        translate_activity(&someone_else),
        BotInbound::Ignored { .. }
    ));
}

#[test]
fn other_activities_are_ignored() {
    for kind in ["typing", "messageReaction", "installationUpdate", "event"] {
        let inbound = translate_activity(&activity(kind, &json!({})));
        assert!(matches!(inbound, BotInbound::Ignored { .. }), "{kind}");
        assert!(inbound.events().is_empty());
    }
    let extension = activity("invoke", &json!({"name": "composeExtension/query"}));
    assert!(matches!(
        translate_activity(&extension),
        BotInbound::Ignored { .. }
    ));
}
