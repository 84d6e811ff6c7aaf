//! The people a gateway run needs: one Slack user and one phone-enabled Teams user per call.
//! The Slack users are spread over several workspaces, each with the app installed, because
//! Slack budgets `calls.add`, `calls.update`, `dnd.info` and `conversations.open` per workspace
//! (the gateway keeps `calls.*` at Tier 2, 20 a minute, in bursts of 4): a hundred calls from one
//! workspace would measure the rate limiter, not the gateway.

use callbridge_sandbox::microsoft::{MicrosoftSeed, UserSeed};
use callbridge_sandbox::slack::{SeedInstall, SeedUser, SeedWorkspace, SlackSeed};

use crate::Result;

/// Slack users per workspace: each places one call, whose `calls.add` and `calls.update` fit
/// the gateway's burst of 4 per workspace and method, so no call waits on the budget.
pub(crate) const USERS_PER_WORKSPACE: usize = 2;

/// The Teams users' domain (the demo tenant's).
const TEAMS_DOMAIN: &str = "contoso.test";

/// One call's two people.
#[derive(Clone, Debug)]
pub(crate) struct Pair {
    /// The Slack caller's user id.
    pub(crate) slack_user: String,
    /// The Teams callee's address (what the caller types after `/call`).
    pub(crate) teams_upn: String,
    /// The Teams callee's object id (what the SIP proxy records).
    pub(crate) teams_id: String,
}

/// A workspace's id and its bot token, to install in the gateway.
#[derive(Clone, Debug)]
pub(crate) struct Workspace {
    pub(crate) id: String,
    pub(crate) bot_token: String,
}

/// Everything seeded for `calls` calls.
pub(crate) struct Seeds {
    pub(crate) slack: SlackSeed,
    pub(crate) microsoft: MicrosoftSeed,
    pub(crate) workspaces: Vec<Workspace>,
    pub(crate) pairs: Vec<Pair>,
}

/// The demo seeds (the app registrations, the demo people) plus one caller and one callee per
/// call.
pub(crate) fn seeds(calls: usize) -> Result<Seeds> {
    let mut slack = SlackSeed::demo();
    let template = slack
        .workspaces
        .first()
        .cloned()
        .ok_or("the demo Slack seed has no workspace")?;
    let scopes = template
        .install
        .as_ref()
        .map(|i| i.bot_scopes.clone())
        .ok_or("the demo Slack workspace has no installation")?;
    let mut microsoft = MicrosoftSeed::demo();
    let tenant = microsoft
        .tenants
        .first_mut()
        .ok_or("the demo Microsoft seed has no tenant")?;

    let mut workspaces = Vec::new();
    let mut pairs = Vec::with_capacity(calls);
    for w in 0..calls.div_ceil(USERS_PER_WORKSPACE) {
        let id = format!("T0LOAD{w:04}");
        let bot_token = format!("xoxb-load-{w}");
        let first = w * USERS_PER_WORKSPACE;
        let users: Vec<SeedUser> = (first..calls.min(first + USERS_PER_WORKSPACE))
            .map(|n| slack_user(&template, n))
            .collect();
        for user in &users {
            let n = pairs.len();
            let teams = teams_user(n);
            pairs.push(Pair {
                slack_user: user.id.clone(),
                teams_upn: teams.upn.clone(),
                teams_id: teams.id.clone(),
            });
            tenant.users.push(teams);
        }
        slack.workspaces.push(SeedWorkspace {
            id: id.clone(),
            name: format!("Load {w}"),
            domain: format!("load{w}"),
            enterprise: None,
            users,
            channels: Vec::new(),
            install: Some(SeedInstall {
                bot_user_id: format!("U0LOADBOT{w:04}"),
                bot_token: bot_token.clone(),
                bot_scopes: scopes.clone(),
                user_tokens: Vec::new(),
            }),
        });
        workspaces.push(Workspace { id, bot_token });
    }
    slack.validate()?;
    Ok(Seeds {
        slack,
        microsoft,
        workspaces,
        pairs,
    })
}

/// Slack caller `n`, shaped like the demo's people.
fn slack_user(template: &SeedWorkspace, n: usize) -> SeedUser {
    let mut user = template.users[0].clone();
    user.id = format!("U0LOAD{n:05}");
    user.name = format!("caller{n}");
    user.real_name = format!("Caller {n}");
    user.email = format!("caller{n}@example.com");
    user.is_admin = false;
    user
}

/// Teams callee `n`, with a Direct Routing number of their own.
fn teams_user(n: usize) -> UserSeed {
    let login = format!("callee{n}");
    UserSeed {
        id: format!("00000000-0000-4000-8000-{n:012}"),
        upn: format!("{login}@{TEAMS_DOMAIN}"),
        mail: Some(format!("{login}@{TEAMS_DOMAIN}")),
        display_name: format!("Callee {n}"),
        given_name: Some("Callee".to_owned()),
        surname: Some(n.to_string()),
        phone: Some(format!("+1425600{n:04}")),
        availability: "Available".to_owned(),
        activity: "Available".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_gets_its_own_pair_and_workspaces_stay_under_budget() {
        let s = seeds(45).expect("seeds");
        assert_eq!(s.pairs.len(), 45);
        let workspaces = 45_usize.div_ceil(USERS_PER_WORKSPACE);
        assert_eq!(s.workspaces.len(), workspaces);
        let mut callees: Vec<_> = s.pairs.iter().map(|p| p.teams_id.clone()).collect();
        callees.sort();
        callees.dedup();
        assert_eq!(callees.len(), 45);
        // The demo's own workspace and tenant stay; the new people come on top.
        assert_eq!(s.slack.workspaces.len(), workspaces + 1);
        assert_eq!(s.microsoft.tenants[0].users.len(), 3 + 45);
        for ws in &s.slack.workspaces[1..] {
            assert!(ws.users.len() <= USERS_PER_WORKSPACE);
        }
    }
}
