//! The committed JSON Schemas in `schemas/` must match the code, and every example document in
//! `schemas/examples/` must round-trip through the model unchanged.
//!
//! After changing the model on purpose, regenerate with
//! `CALLBRIDGE_BLESS_SCHEMAS=1 cargo test -p callbridge-model --test schemas`.

use std::fs;
use std::path::{Path, PathBuf};

use callbridge_model::schema::published;
use callbridge_model::{
    Call, Cdr, MediaAnswer, MediaOffer, PlatformCommand, PlatformEvent, Presence,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn render(schema: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("schemas serialize");
    text.push('\n');
    text
}

#[test]
fn committed_schemas_match_the_model() {
    let bless = std::env::var_os("CALLBRIDGE_BLESS_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (stem, schema) in published() {
        let path = schemas_dir().join(format!("{stem}.schema.json"));
        let expected = render(&schema);
        if bless {
            fs::write(&path, &expected).expect("write schema");
            continue;
        }
        match fs::read_to_string(&path) {
            Ok(committed) if committed == expected => {}
            _ => drifted.push(path.display().to_string()),
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas drifted from the model (rerun with CALLBRIDGE_BLESS_SCHEMAS=1): {drifted:?}"
    );
}

fn round_trip<T: DeserializeOwned + Serialize>(path: &Path, document: &Value) {
    let parsed: T = serde_json::from_value(document.clone())
        .unwrap_or_else(|error| panic!("{} does not parse: {error}", path.display()));
    let again = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(
        &again,
        document,
        "{} changed in a round trip",
        path.display()
    );
}

#[test]
fn examples_round_trip() {
    let dir = schemas_dir().join("examples");
    let mut checked = 0;
    for entry in fs::read_dir(&dir).expect("schemas/examples exists") {
        let path = entry.expect("readable entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = fs::read_to_string(&path).expect("readable example");
        let document: Value = serde_json::from_str(&text).expect("example is JSON");
        // The part of the name before the first '.' names the schema the example follows.
        match name.split('.').next().unwrap_or_default() {
            "call" => round_trip::<Call>(&path, &document),
            "cdr" => round_trip::<Cdr>(&path, &document),
            "presence" => round_trip::<Presence>(&path, &document),
            "platform-event" => round_trip::<PlatformEvent>(&path, &document),
            "platform-command" => round_trip::<PlatformCommand>(&path, &document),
            "media-offer" => round_trip::<MediaOffer>(&path, &document),
            "media-answer" => round_trip::<MediaAnswer>(&path, &document),
            other => panic!("example {name} names no published schema ({other})"),
        }
        checked += 1;
    }
    assert!(
        checked >= 7,
        "expected an example per schema, found {checked}"
    );
}

#[test]
fn examples_with_bad_ids_are_rejected() {
    let bad = r#"{"type":"presence_changed","event_id":"Ev1","user":{"platform":"slack","team":"T123","user":"alice"},"presence":{"availability":"Busy","source":{"platform":"slack","origin":"user"}}}"#;
    let error = serde_json::from_str::<PlatformEvent>(bad)
        .unwrap_err()
        .to_string();
    assert!(error.contains("SlackUserId"), "unexpected error: {error}");
}
