//! The Teams app package and the trunk pairing script (reference `teams-graph.md` §5.5,
//! `sip-direct-routing.md` §1.1, §1.6–§1.7): the package unzips into a manifest whose ids and
//! URLs are the ones given and icons of the sizes Teams requires; bad input is refused with a
//! reason; the PowerShell pairs exactly the FQDN, range and users given.

use std::io::{Cursor, Read};

use callbridge_adapter::AdapterError;
use callbridge_model::PhoneNumber;
use callbridge_teams::NumberRange;
use callbridge_teams::manifest::{
    MANIFEST_VERSION, NumberAssignment, PackageOptions, PairingPlan, app_package,
    pairing_powershell,
};
use serde_json::Value;

const BOT: &str = "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e";

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            file.read_to_end(&mut content).unwrap();
            (file.name().unwrap().into_owned(), content)
        })
        .collect()
}

fn png_info(bytes: &[u8]) -> png::OutputInfo {
    let mut reader = png::Decoder::new(Cursor::new(bytes)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    reader.next_frame(&mut pixels).unwrap()
}

#[test]
fn the_package_unzips_into_a_matching_manifest_and_icons() {
    let bytes = app_package(
        "https://gw.contoso.com/bridge",
        BOT,
        &PackageOptions::default(),
    )
    .unwrap();
    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["manifest.json", "color.png", "outline.png"]);

    let manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(manifest["manifestVersion"], MANIFEST_VERSION);
    assert!(
        manifest["$schema"]
            .as_str()
            .unwrap()
            .contains(&format!("v{MANIFEST_VERSION}/"))
    );
    assert_eq!(manifest["id"], BOT);
    assert_eq!(manifest["bots"][0]["botId"], BOT);
    assert_eq!(
        manifest["bots"][0]["scopes"],
        serde_json::json!(["personal"])
    );
    let commands = &manifest["bots"][0]["commandLists"][0]["commands"];
    assert_eq!(commands[0]["title"], "call");
    assert_eq!(commands[1]["title"], "help");
    assert_eq!(
        manifest["validDomains"],
        serde_json::json!(["gw.contoso.com"])
    );
    assert_eq!(
        manifest["developer"]["websiteUrl"],
        "https://gw.contoso.com/bridge/"
    );
    assert_eq!(
        manifest["developer"]["privacyUrl"],
        "https://gw.contoso.com/bridge/privacy"
    );
    assert_eq!(manifest["icons"]["color"], "color.png");
    assert_eq!(manifest["icons"]["outline"], "outline.png");
    assert!(manifest["name"]["short"].as_str().unwrap().chars().count() <= 30);
    assert!(
        manifest["description"]["short"]
            .as_str()
            .unwrap()
            .chars()
            .count()
            <= 80
    );

    let color = png_info(&files[1].1);
    assert_eq!((color.width, color.height), (192, 192));
    let outline = png_info(&files[2].1);
    assert_eq!((outline.width, outline.height), (32, 32));
    // The outline icon is white on transparent: it must carry alpha.
    assert_eq!(outline.color_type, png::ColorType::Rgba);
}

#[test]
fn a_separate_app_id_and_version_are_honoured() {
    let options = PackageOptions {
        app_id: Some("0f0e0d0c-0b0a-4908-8706-050403020100".to_owned()),
        version: "2.3.4".to_owned(),
        ..PackageOptions::default()
    };
    let files = unzip(&app_package("https://gw.contoso.com", BOT, &options).unwrap());
    let manifest: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert_eq!(manifest["id"], "0f0e0d0c-0b0a-4908-8706-050403020100");
    assert_eq!(manifest["bots"][0]["botId"], BOT);
    assert_eq!(manifest["version"], "2.3.4");
}

fn refusal(result: Result<impl std::fmt::Debug, AdapterError>) -> String {
    match result {
        Err(AdapterError::Misconfigured(reason)) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn bad_package_input_is_refused_with_a_reason() {
    let defaults = PackageOptions::default();
    assert!(refusal(app_package("http://gw.contoso.com", BOT, &defaults)).contains("https"));
    assert!(refusal(app_package("https://10.0.0.1", BOT, &defaults)).contains("IP address"));
    assert!(refusal(app_package("not a url", BOT, &defaults)).contains("public URL"));
    assert!(refusal(app_package("https://gw.contoso.com", "bot", &defaults)).contains("GUID"));
    let long_name = PackageOptions {
        short_name: "x".repeat(31),
        ..PackageOptions::default()
    };
    assert!(refusal(app_package("https://gw.contoso.com", BOT, &long_name)).contains("30"));
    let bad_version = PackageOptions {
        version: "1.0".to_owned(),
        ..PackageOptions::default()
    };
    assert!(
        refusal(app_package("https://gw.contoso.com", BOT, &bad_version))
            .contains("major.minor.patch")
    );
}

fn number(text: &str) -> PhoneNumber {
    text.parse().unwrap()
}

#[test]
fn the_pairing_script_names_the_fqdn_route_and_numbers() {
    let range = NumberRange::new(&number("+14255551000"), 1000).unwrap();
    let users = [
        NumberAssignment {
            upn: "alice@contoso.com".to_owned(),
            number: number("+14255550101"),
        },
        NumberAssignment {
            upn: "bob@contoso.com".to_owned(),
            number: number("+14255550102"),
        },
    ];
    let script = pairing_powershell(&PairingPlan {
        sbc_fqdn: "SBC.contoso.com",
        slack_numbers: Some(&range),
        teams_users: &users,
        max_concurrent_sessions: 100,
    })
    .unwrap();
    let lines: Vec<&str> = script
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "New-CsOnlinePSTNGateway -Fqdn 'sbc.contoso.com' -SipSignalingPort 5061 -MaxConcurrentSessions 100 -Enabled $true",
            "Set-CsOnlinePstnUsage -Identity Global -Usage @{Add='callbridge'}",
            r"New-CsOnlineVoiceRoute -Identity 'callbridge' -NumberPattern '^\+14255551\d{3}$' -OnlinePstnGatewayList 'sbc.contoso.com' -Priority 1 -OnlinePstnUsages 'callbridge'",
            "New-CsOnlineVoiceRoutingPolicy -Identity 'callbridge' -OnlinePstnUsages 'callbridge'",
            "Set-CsPhoneNumberAssignment -Identity 'alice@contoso.com' -PhoneNumber '+14255550101' -PhoneNumberType DirectRouting",
            "Grant-CsOnlineVoiceRoutingPolicy -Identity 'alice@contoso.com' -PolicyName 'callbridge'",
            "Set-CsPhoneNumberAssignment -Identity 'bob@contoso.com' -PhoneNumber '+14255550102' -PhoneNumberType DirectRouting",
            "Grant-CsOnlineVoiceRoutingPolicy -Identity 'bob@contoso.com' -PolicyName 'callbridge'",
            "Get-CsOnlinePSTNGateway -Identity 'sbc.contoso.com'",
        ]
    );
}

/// Whether the route's pattern (`^\+…$`, built from digits, `\d{n}`, `[a-b]` and `(?:…|…)`)
/// matches `number`: a tiny matcher for exactly that grammar, so the test does not trust the
/// pattern's author.
fn matches(pattern: &str, number: &str) -> bool {
    fn alternatives(p: &str) -> Vec<&str> {
        let (mut depth, mut start, mut out) = (0, 0, Vec::new());
        for (i, c) in p.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                '|' if depth == 0 => {
                    out.push(&p[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        out.push(&p[start..]);
        out
    }
    fn run(p: &str, s: &str) -> bool {
        if p.is_empty() {
            return s.is_empty();
        }
        if let Some(rest) = p.strip_prefix("(?:") {
            let mut depth = 1;
            let close = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .unwrap()
                .0;
            let (group, after) = (&rest[..close], &rest[close + 1..]);
            return alternatives(group)
                .iter()
                .any(|alt| run(&format!("{alt}{after}"), s));
        }
        if let Some(rest) = p.strip_prefix("\\d{") {
            let (n, after) = rest.split_once('}').unwrap();
            let n: usize = n.parse().unwrap();
            return s.len() >= n
                && s[..n].bytes().all(|b| b.is_ascii_digit())
                && run(after, &s[n..]);
        }
        if let Some(rest) = p.strip_prefix('[') {
            let (lo, hi, after) = (rest.as_bytes()[0], rest.as_bytes()[2], &rest[4..]);
            return s.as_bytes().first().is_some_and(|b| (lo..=hi).contains(b))
                && run(after, &s[1..]);
        }
        let c = p.as_bytes()[0];
        s.as_bytes().first() == Some(&c) && run(&p[1..], &s[1..])
    }
    let inner = pattern
        .strip_prefix("^\\+")
        .unwrap()
        .strip_suffix('$')
        .unwrap();
    run(inner, number.strip_prefix('+').unwrap())
}

#[test]
fn route_patterns_cover_exactly_the_range() {
    for (first, count) in [
        ("+14255551000", 1000u64),
        ("+14255550237", 150),
        ("+4930123450", 7),
        ("+14255550999", 2),
    ] {
        let range = NumberRange::new(&number(first), count).unwrap();
        let script = pairing_powershell(&PairingPlan {
            sbc_fqdn: "sbc.contoso.com",
            slack_numbers: Some(&range),
            teams_users: &[],
            max_concurrent_sessions: 10,
        })
        .unwrap();
        let pattern = script
            .split("-NumberPattern '")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap();
        let start: u64 = first[1..].parse().unwrap();
        for n in start.saturating_sub(20)..start + count + 20 {
            let candidate = format!("+{n}");
            let inside = n >= start && n < start + count;
            assert_eq!(
                matches(pattern, &candidate),
                inside,
                "{pattern} vs {candidate}"
            );
        }
    }
}

#[test]
fn bad_pairing_input_is_refused_with_a_reason() {
    let plan = |fqdn: &'static str| PairingPlan {
        sbc_fqdn: fqdn,
        slack_numbers: None,
        teams_users: &[],
        max_concurrent_sessions: 10,
    };
    assert!(refusal(pairing_powershell(&plan("192.168.1.10"))).contains("IP address"));
    assert!(
        refusal(pairing_powershell(&plan("sbc.contoso.onmicrosoft.com"))).contains("onmicrosoft")
    );
    assert!(refusal(pairing_powershell(&plan("sbc"))).contains("not a domain name"));
    assert!(
        refusal(pairing_powershell(&plan("sbc.contoso.com'; Remove-Item")))
            .contains("not a domain name")
    );
    let users = [NumberAssignment {
        upn: "alice'@contoso.com".to_owned(),
        number: number("+14255550101"),
    }];
    let injected = PairingPlan {
        teams_users: &users,
        ..plan("sbc.contoso.com")
    };
    assert!(refusal(pairing_powershell(&injected)).contains("user principal name"));
    let zero = PairingPlan {
        max_concurrent_sessions: 0,
        ..plan("sbc.contoso.com")
    };
    assert!(refusal(pairing_powershell(&zero)).contains("at least 1"));
    // Without a range the script says what is missing instead of routing nothing.
    let script = pairing_powershell(&plan("sbc.contoso.com")).unwrap();
    assert!(!script.contains("New-CsOnlineVoiceRoute "));
    assert!(script.contains("No Slack number range"));
}
