//! What an operator would do by hand to connect the gateway to the stand-ins, done for them:
//! the Slack installation with its bot token and the people's user tokens, the links between
//! people who use both platforms (found by their verified address), and the delegated sign-in
//! that owns the Teams presence subscriptions.

use std::net::SocketAddr;

use callbridge_adapter::{Secret, TokenSet, TokenVault};
use callbridge_model::{Platform, TenantId};
use callbridge_sandbox::microsoft::{Answer, Echo, MicrosoftSeed, MicrosoftState, PhoneBehaviour};
use callbridge_store::{
    Installation, InstallationStore, SqlStore, StoreError, UserLink, UserLinkStore,
};

use super::stand_ins::{SLACK_TEAM, SUBSCRIBER, SUBSCRIBER_USER, StandIns};
use crate::GatewayError;
use crate::platforms::StoreVault;

/// Records the Slack installation, its tokens, and the links by address.
pub(super) async fn connect(
    store: &SqlStore,
    tenant: TenantId,
    stand_ins: &StandIns,
) -> Result<(), GatewayError> {
    store
        .upsert_installation(&Installation {
            platform: Platform::Slack,
            external_id: SLACK_TEAM.to_owned(),
            tenant,
            display_name: "Demo Workspace".to_owned(),
            installed_at: chrono::Utc::now(),
            revoked_at: None,
        })
        .await?;
    store_tokens(store, stand_ins).await?;
    link_by_address(store, tenant, stand_ins).await
}

async fn store_tokens(store: &SqlStore, stand_ins: &StandIns) -> Result<(), GatewayError> {
    let vault = StoreVault::new(store.clone());
    let bot = callbridge_sandbox::slack::SlackSeed::demo()
        .workspaces
        .into_iter()
        .find_map(|w| w.install)
        .map(|install| install.bot_token)
        .unwrap_or_default();
    let stored = |token: String| TokenSet {
        access_token: Secret::new(token),
        refresh_token: None,
        expires_at: None,
        scopes: Vec::new(),
    };
    vault
        .store(&callbridge_slack::bot_key(SLACK_TEAM), &stored(bot))
        .await
        .map_err(|e| GatewayError::Startup(format!("storing the demo bot token: {e}")))?;
    for granted in &stand_ins.slack_user_tokens {
        vault
            .store(
                &callbridge_slack::user_key(SLACK_TEAM, &granted.user),
                &stored(granted.token.clone()),
            )
            .await
            .map_err(|e| GatewayError::Startup(format!("storing a demo user token: {e}")))?;
    }
    Ok(())
}

/// Links every Slack person to the Teams person with the same address; a link already there
/// (from an earlier run, or made by hand) stays.
async fn link_by_address(
    store: &SqlStore,
    tenant: TenantId,
    stand_ins: &StandIns,
) -> Result<(), GatewayError> {
    let teams = MicrosoftSeed::demo();
    for tenant_seed in &teams.tenants {
        for person in &stand_ins.slack_people {
            let Some(teams_user) = tenant_seed.users.iter().find(|u| {
                u.mail
                    .as_deref()
                    .is_some_and(|mail| mail.eq_ignore_ascii_case(&person.email))
            }) else {
                continue;
            };
            let link = UserLink {
                tenant,
                slack_team: parse(SLACK_TEAM)?,
                slack_user: parse(&person.id)?,
                teams_tenant: parse(&tenant_seed.id)?,
                teams_user: parse(&teams_user.id)?,
                created_at: chrono::Utc::now(),
            };
            match store.link_users(&link).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(error) => return Err(error.into()),
            }
        }
    }
    Ok(())
}

/// Every Teams phone rings until its person answers in the Teams client, and then echoes
/// what it hears: a newcomer hears their own voice come back through the whole bridge.
pub(super) fn hand_phones_to_people(microsoft: &MicrosoftState) -> Result<(), GatewayError> {
    for user in MicrosoftSeed::demo()
        .tenants
        .iter()
        .flat_map(|t| t.users.iter())
    {
        let behaviour = PhoneBehaviour {
            answer: Answer::Manual,
            echo: Some(Echo::default()),
            ..PhoneBehaviour::default()
        };
        microsoft
            .set_phone_behaviour(&user.id, behaviour)
            .map_err(|e| GatewayError::Startup(format!("a demo phone: {e}")))?;
    }
    Ok(())
}

/// Adds the bot to every Teams person's personal scope (an admin's app setup policy does this
/// in a real tenant), so the bot can reach them unprompted: a missed-call card, a ringing call.
pub(super) async fn install_bot_for_everyone(microsoft: &MicrosoftState) {
    for user in MicrosoftSeed::demo()
        .tenants
        .iter()
        .flat_map(|t| t.users.iter())
    {
        if let Err(error) = microsoft.set_bot_installed(&user.id, true).await {
            tracing::warn!(%error, "the demo could not add the bot for a Teams person");
        }
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> Result<T, GatewayError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| GatewayError::Startup(format!("a demo seed id: {e}")))
}

/// Signs the presence subscriber in the way an operator does: the admin API's sign-in link,
/// the stand-in's consent page accepted as Carol, the redirect followed to the gateway.
pub(super) async fn sign_in_subscriber(
    gateway: SocketAddr,
    admin_token: &str,
) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let links: serde_json::Value = http
        .get(format!(
            "http://{gateway}/api/v1/teams/consent?subscriber={SUBSCRIBER}"
        ))
        .bearer_auth(admin_token)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("the admin API: {e}"))?
        .json()
        .await
        .map_err(|e| format!("the consent links: {e}"))?;
    let link = links["sign_in_url"]
        .as_str()
        .and_then(|link| url::Url::parse(link).ok())
        .ok_or("no sign-in link for the subscriber")?;
    let user = MicrosoftSeed::demo()
        .tenants
        .iter()
        .flat_map(|t| t.users.iter())
        .find(|u| u.upn == SUBSCRIBER_USER)
        .map(|u| u.id.clone())
        .ok_or("the subscriber is not seeded")?;
    let mut form: Vec<(String, String)> = link.query_pairs().into_owned().collect();
    form.push(("sandbox_user".to_owned(), user));
    form.push(("sandbox_decision".to_owned(), "accept".to_owned()));
    let mut consent_page = link.clone();
    consent_page.set_query(None);
    let consented = http
        .post(consent_page)
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("the consent page: {e}"))?;
    let callback = consented
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .ok_or("the consent page did not redirect back")?
        .to_owned();
    let status = http
        .get(callback)
        .send()
        .await
        .map_err(|e| format!("the gateway's callback: {e}"))?
        .status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the gateway's callback answered {status}"))
    }
}
