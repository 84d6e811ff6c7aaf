//! The PowerShell a Teams admin runs to pair callbridge as a Direct Routing SBC (reference
//! `sip-direct-routing.md` §1.6–§1.7): the gateway itself, a PSTN usage, a voice route that
//! sends the Slack users' number range to it, a voice routing policy granted to the Teams users
//! who call through it, and each Teams user's Direct Routing number. There is no SIP REGISTER:
//! these commands and the trunk's own OPTIONS are the whole pairing.

use callbridge_adapter::AdapterError;
use callbridge_model::PhoneNumber;

use crate::config::NumberRange;

/// The PSTN usage, voice route and policy names the script creates.
const USAGE: &str = "callbridge";

/// One Teams user and the Direct Routing number (LineURI) they are reached on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberAssignment {
    /// The user's UPN.
    pub upn: String,
    /// Their number.
    pub number: PhoneNumber,
}

/// What the pairing covers.
#[derive(Clone, Debug)]
pub struct PairingPlan<'a> {
    /// The SBC's FQDN, as in the trunk's Contact header and certificate.
    pub sbc_fqdn: &'a str,
    /// The numbers Slack users are reached on from Teams, routed to the SBC.
    pub slack_numbers: Option<&'a NumberRange>,
    /// The Teams users reachable from Slack, with their numbers.
    pub teams_users: &'a [NumberAssignment],
    /// `-MaxConcurrentSessions` of the gateway.
    pub max_concurrent_sessions: u32,
}

fn bad(what: impl Into<String>) -> AdapterError {
    AdapterError::Misconfigured(what.into())
}

/// The FQDN rules of §1.1: a domain name of at least two labels (no IP address), not under
/// `onmicrosoft.com`, which Direct Routing refuses.
fn check_fqdn(fqdn: &str) -> Result<(), AdapterError> {
    let labels: Vec<&str> = fqdn.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if fqdn.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(bad(format!("SBC FQDN {fqdn:?} is not a domain name")));
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("the SBC must be named by an FQDN, never an IP address"));
    }
    if fqdn.to_ascii_lowercase().ends_with(".onmicrosoft.com") {
        return Err(bad(
            "Direct Routing does not accept *.onmicrosoft.com SBC names",
        ));
    }
    Ok(())
}

/// A UPN safe to put in single quotes.
fn check_upn(upn: &str) -> Result<(), AdapterError> {
    let ok = upn.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && domain.contains('.') && !domain.contains('@')
    }) && upn.chars().all(|c| {
        !c.is_whitespace() && !c.is_control() && !matches!(c, '\'' | '"' | '`' | '$' | ';')
    });
    if ok {
        Ok(())
    } else {
        Err(bad(format!("{upn:?} is not a user principal name")))
    }
}

/// A regular expression matching exactly the decimal strings from `lo` to `hi` (same length).
fn range_pattern(lo: &[u8], hi: &[u8]) -> String {
    let all = |s: &[u8], d: u8| s.iter().all(|b| *b == d);
    match (lo, hi) {
        ([], _) | (_, []) => String::new(),
        _ if lo == hi => String::from_utf8_lossy(lo).into_owned(),
        _ if all(lo, b'0') && all(hi, b'9') => format!("\\d{{{}}}", lo.len()),
        ([l], [h]) => format!("[{}-{}]", *l as char, *h as char),
        ([l, lo_rest @ ..], [h, hi_rest @ ..]) if l == h => {
            format!("{}{}", *l as char, range_pattern(lo_rest, hi_rest))
        }
        ([l, lo_rest @ ..], [h, hi_rest @ ..]) => {
            let n = lo_rest.len();
            let mut parts = Vec::new();
            let (mut first, mut last) = (*l, *h);
            if !all(lo_rest, b'0') {
                parts.push(format!(
                    "{}{}",
                    *l as char,
                    range_pattern(lo_rest, &vec![b'9'; n])
                ));
                first += 1;
            }
            if !all(hi_rest, b'9') {
                last -= 1;
            }
            if first <= last {
                let digit = if first == last {
                    (first as char).to_string()
                } else {
                    format!("[{}-{}]", first as char, last as char)
                };
                parts.push(format!("{digit}\\d{{{n}}}"));
            }
            if !all(hi_rest, b'9') {
                parts.push(format!(
                    "{}{}",
                    *h as char,
                    range_pattern(&vec![b'0'; n], hi_rest)
                ));
            }
            format!("(?:{})", parts.join("|"))
        }
    }
}

/// The voice route's `-NumberPattern` for a range: `^\+` then exactly its numbers.
fn number_pattern(range: &NumberRange) -> Option<String> {
    let first = range.nth(0)?;
    let last = range.nth(range.len().checked_sub(1)?)?;
    let lo = &first.as_str().as_bytes()[1..];
    let hi = &last.as_str().as_bytes()[1..];
    Some(format!("^\\+{}$", range_pattern(lo, hi)))
}

/// The script for `plan`, commented so the admin knows what each line does.
pub fn pairing_powershell(plan: &PairingPlan<'_>) -> Result<String, AdapterError> {
    check_fqdn(plan.sbc_fqdn)?;
    if plan.max_concurrent_sessions == 0 {
        return Err(bad("max concurrent sessions must be at least 1"));
    }
    for user in plan.teams_users {
        check_upn(&user.upn)?;
    }
    let fqdn = plan.sbc_fqdn.to_ascii_lowercase();
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };
    line("# Pair callbridge with Teams Phone Direct Routing. Run in a MicrosoftTeams PowerShell");
    line("# session as a Teams administrator (Connect-MicrosoftTeams). The SBC domain must be a");
    line("# verified domain of the tenant.");
    line("");
    line("# 1. The SBC (SIP over TLS on 5061).");
    line(&format!(
        "New-CsOnlinePSTNGateway -Fqdn '{fqdn}' -SipSignalingPort 5061 -MaxConcurrentSessions {} -Enabled $true",
        plan.max_concurrent_sessions
    ));
    line("");
    line("# 2. Voice routing: calls to the Slack users' numbers go to callbridge.");
    line(&format!(
        "Set-CsOnlinePstnUsage -Identity Global -Usage @{{Add='{USAGE}'}}"
    ));
    match plan.slack_numbers.and_then(number_pattern) {
        Some(pattern) => line(&format!(
            "New-CsOnlineVoiceRoute -Identity '{USAGE}' -NumberPattern '{pattern}' -OnlinePstnGatewayList '{fqdn}' -Priority 1 -OnlinePstnUsages '{USAGE}'"
        )),
        None => line("# (No Slack number range is configured: add a voice route once one is.)"),
    }
    line(&format!(
        "New-CsOnlineVoiceRoutingPolicy -Identity '{USAGE}' -OnlinePstnUsages '{USAGE}'"
    ));
    line("");
    line("# 3. Teams users reachable from Slack: their Direct Routing number, and the policy");
    line("#    that lets them call Slack users (each needs a Teams Phone licence).");
    if plan.teams_users.is_empty() {
        line("# (No Teams users listed.)");
    }
    for user in plan.teams_users {
        line(&format!(
            "Set-CsPhoneNumberAssignment -Identity '{}' -PhoneNumber '{}' -PhoneNumberType DirectRouting",
            user.upn, user.number
        ));
        line(&format!(
            "Grant-CsOnlineVoiceRoutingPolicy -Identity '{}' -PolicyName '{USAGE}'",
            user.upn
        ));
    }
    line("");
    line(
        "# 4. Check: the gateway is listed, and OPTIONS succeed both ways (callbridge's dashboard).",
    );
    line(&format!("Get-CsOnlinePSTNGateway -Identity '{fqdn}'"));
    Ok(out)
}
