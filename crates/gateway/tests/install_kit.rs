//! The real binary prints what an administrator pastes into Slack and Teams, with this
//! gateway's URLs in it, and refuses input the platforms would refuse later.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_callbridge");

#[test]
fn the_slack_manifest_points_every_url_at_this_gateway() {
    let output = Command::new(BIN)
        .args([
            "slack",
            "manifest",
            "--public-url",
            "https://cb.example.com/",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let manifest = String::from_utf8(output.stdout).unwrap();
    for url in [
        "https://cb.example.com/slack/commands",
        "https://cb.example.com/slack/events",
        "https://cb.example.com/slack/interactivity",
        "https://cb.example.com/slack/oauth/callback",
    ] {
        assert!(manifest.contains(url), "{url} missing from\n{manifest}");
    }
    assert!(manifest.contains("/call"));
    assert!(
        manifest.contains("token_rotation_enabled: true"),
        "{manifest}"
    );
}

#[test]
fn the_teams_kit_writes_a_package_and_the_pairing_script() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.zip");
    let output = Command::new(BIN)
        .args([
            "teams",
            "manifest",
            "--public-url",
            "https://cb.example.com/",
            "--sbc-fqdn",
            "sbc.example.com",
            "--bot-app-id",
            "11111111-2222-3333-4444-555555555555",
            "--slack-numbers-from",
            "+14255550100",
            "--slack-number-count",
            "50",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(
        script.contains("New-CsOnlinePSTNGateway -Fqdn 'sbc.example.com'"),
        "{script}"
    );
    assert!(script.contains("New-CsOnlineVoiceRoute"), "{script}");
    let package = std::fs::read(&out).unwrap();
    assert_eq!(&package[..2], b"PK", "not a zip");
}

#[test]
fn an_sbc_named_by_ip_address_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args([
            "teams",
            "manifest",
            "--public-url",
            "https://cb.example.com/",
            "--sbc-fqdn",
            "192.0.2.10",
            "--bot-app-id",
            "11111111-2222-3333-4444-555555555555",
            "--out",
        ])
        .arg(dir.path().join("app.zip"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("sbc-fqdn"), "{error}");
    assert!(
        !dir.path().join("app.zip").exists(),
        "a package was written for a refused request"
    );
}
