//! Turning a platform's call request into a call the engine can run: who is calling, whom
//! they mean (through the link table and both directories), whether the callee is in Do Not
//! Disturb, and the ids and signed join URL the engine takes as inputs.

use std::sync::Arc;

use callbridge_engine::call::{NewCall, Party};
use callbridge_model::{
    Availability, CallId, CallTarget, Email, LegId, Platform, SlackTeamId, TenantId, UserRef,
};
use callbridge_slack::SlackAdapter;
use callbridge_store::{InstallationStore, SqlStore, UserLink, UserLinkStore};
use callbridge_teams::TeamsAdapter;
use callbridge_teams::directory::{DirectoryUser, Lookup};
use chrono::{DateTime, Utc};

use super::presence_book::PresenceBook;
use crate::join::JoinTokens;
use crate::mirror::MirrorService;

/// Why a request cannot become a call; each is told to the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum Unresolved {
    /// Nobody matches the target on the other platform.
    #[error("I could not find that person on the other platform.")]
    NoSuchUser,
    /// The target is on the caller's own platform and not linked across.
    #[error("That person is not linked to an account on the other platform yet.")]
    NotLinked,
    /// Phone numbers are not a target callbridge dials.
    #[error("Calling phone numbers is not supported; call a person by name or address.")]
    PhoneTarget,
    /// The platform the call needs is not set up on this gateway.
    #[error("Calls to that platform are not enabled on this gateway.")]
    PlatformMissing,
    /// A directory could not be read.
    #[error("The directory could not be reached; try again in a moment.")]
    Directory,
}

/// What the resolver needs.
#[derive(Clone)]
pub struct Resolver {
    pub(super) store: SqlStore,
    pub(super) slack: Option<Arc<SlackAdapter>>,
    pub(super) teams: Option<Arc<TeamsAdapter>>,
    pub(super) presence: PresenceBook,
    pub(super) tokens: JoinTokens,
    pub(super) public_url: url::Url,
    pub(super) tenant: TenantId,
    pub(super) join_validity: chrono::TimeDelta,
    pub(super) mirror: Option<MirrorService>,
}

/// Both parties, caller first.
type Parties = (Party, Party);

impl Resolver {
    /// Resolves a call request from `caller` to `target`.
    pub async fn request(
        &self,
        caller: &UserRef,
        target: &CallTarget,
        now: DateTime<Utc>,
    ) -> Result<NewCall, Unresolved> {
        let (caller, callee) = match caller {
            UserRef::Slack { .. } => self.slack_caller(caller, target, now).await?,
            UserRef::Teams { .. } => self.teams_caller(caller, target, now).await?,
            _ => return Err(Unresolved::PlatformMissing),
        };
        Ok(self.name_call(CallId::generate(), LegId::generate(), caller, callee, now))
    }

    /// Resolves a Teams user dialling a Slack user's number: the number must belong to a
    /// linked Slack user.
    pub async fn incoming(
        &self,
        call: CallId,
        leg: LegId,
        caller: &UserRef,
        target: &CallTarget,
        now: DateTime<Utc>,
    ) -> Result<NewCall, Unresolved> {
        let CallTarget::Phone(number) = target else {
            return Err(Unresolved::NoSuchUser);
        };
        let index = self
            .teams
            .as_ref()
            .and_then(|teams| teams.config().slack_numbers.as_ref())
            .and_then(|range| (0..range.len()).find(|i| range.nth(*i).as_ref() == Some(number)))
            .ok_or(Unresolved::NoSuchUser)?;
        let mut links = self
            .store
            .links()
            .await
            .map_err(|_| Unresolved::Directory)?;
        links.sort_by_key(|link| link.created_at);
        let link = usize::try_from(index)
            .ok()
            .and_then(|i| links.get(i))
            .ok_or(Unresolved::NoSuchUser)?;
        let callee = slack_ref(link);
        let caller = self.teams_party(caller, now).await?;
        let callee = self.slack_party(&callee).await?;
        Ok(self.name_call(call, leg, caller, callee, now))
    }

    fn name_call(
        &self,
        call: CallId,
        caller_leg: LegId,
        caller: Party,
        callee: Party,
        now: DateTime<Utc>,
    ) -> NewCall {
        let callee_leg = LegId::generate();
        let slack_leg = if caller.user.platform() == Platform::Slack {
            caller_leg
        } else {
            callee_leg
        };
        let token = self
            .tokens
            .issue(call, slack_leg, now + self.join_validity, nonce());
        let join_url = self
            .public_url
            .join(&format!("join/{token}"))
            .unwrap_or_else(|_| self.public_url.clone());
        NewCall {
            call,
            tenant: self.tenant,
            caller,
            callee,
            caller_leg,
            callee_leg,
            join_url,
        }
    }

    async fn slack_caller(
        &self,
        caller: &UserRef,
        target: &CallTarget,
        now: DateTime<Utc>,
    ) -> Result<Parties, Unresolved> {
        let teams = self.teams.as_ref().ok_or(Unresolved::PlatformMissing)?;
        let found = match target {
            CallTarget::Email(email) => self.teams_by_address(teams, email, now).await?,
            CallTarget::User(UserRef::Teams { user, .. }) => {
                self.teams_lookup(teams, &Lookup::Id(*user), now).await?
            }
            CallTarget::User(slack @ UserRef::Slack { .. }) => {
                self.teams_for_slack(teams, slack, now).await?
            }
            CallTarget::Phone(_) => return Err(Unresolved::PhoneTarget),
            _ => return Err(Unresolved::NoSuchUser),
        };
        let callee_ref = UserRef::Teams {
            tenant: teams.config().tenant,
            user: found.id,
        };
        let callee = Party {
            dnd: self.teams_dnd(teams, &callee_ref, now).await,
            user: callee_ref,
            name: found.display_name,
        };
        let caller = self.slack_party(caller).await?;
        Ok((caller, callee))
    }

    async fn teams_caller(
        &self,
        caller: &UserRef,
        target: &CallTarget,
        now: DateTime<Utc>,
    ) -> Result<Parties, Unresolved> {
        let callee = match target {
            CallTarget::User(slack @ UserRef::Slack { .. }) => slack.clone(),
            CallTarget::User(UserRef::Teams { tenant, user }) => {
                let link = self
                    .store
                    .link_for_teams(tenant, user)
                    .await
                    .map_err(|_| Unresolved::Directory)?
                    .ok_or(Unresolved::NotLinked)?;
                slack_ref(&link)
            }
            CallTarget::Email(email) => self.slack_by_email(email).await?,
            CallTarget::Phone(_) => return Err(Unresolved::PhoneTarget),
            _ => return Err(Unresolved::NoSuchUser),
        };
        let caller = self.teams_party(caller, now).await?;
        let callee = self.slack_party(&callee).await?;
        Ok((caller, callee))
    }

    /// Whether a Teams user is in Do Not Disturb: from the last notification when callbridge
    /// follows their presence, otherwise read from Graph now. A failed read rings anyway.
    async fn teams_dnd(&self, teams: &TeamsAdapter, user: &UserRef, now: DateTime<Utc>) -> bool {
        if let Some(availability) = self.presence.availability(user) {
            return availability == Availability::DoNotDisturb;
        }
        let UserRef::Teams { user: id, .. } = user else {
            return false;
        };
        match teams.presence().read_presence(*id, now).await {
            Ok(presence) => presence.is_some_and(|p| p.availability == Availability::DoNotDisturb),
            Err(error) => {
                tracing::debug!(%error, "a callee's presence could not be read; ringing anyway");
                false
            }
        }
    }

    async fn teams_party(&self, user: &UserRef, now: DateTime<Utc>) -> Result<Party, Unresolved> {
        let UserRef::Teams { user: id, .. } = user else {
            return Err(Unresolved::NoSuchUser);
        };
        let teams = self.teams.as_ref().ok_or(Unresolved::PlatformMissing)?;
        let found = self.teams_lookup(teams, &Lookup::Id(*id), now).await?;
        Ok(Party {
            user: user.clone(),
            name: found.display_name,
            dnd: self.presence.availability(user) == Some(Availability::DoNotDisturb),
        })
    }

    async fn slack_party(&self, user: &UserRef) -> Result<Party, Unresolved> {
        let UserRef::Slack { team, user: id } = user else {
            return Err(Unresolved::NoSuchUser);
        };
        let slack = self.slack.as_ref().ok_or(Unresolved::PlatformMissing)?;
        let person = slack
            .person(team, id)
            .await
            .map_err(|_| Unresolved::Directory)?
            .filter(|person| !person.deleted && !person.is_bot)
            .ok_or(Unresolved::NoSuchUser)?;
        // A DND reading that fails rings anyway: a missed ring is worse than a rung DND.
        let dnd = slack.in_dnd(team, id).await.unwrap_or(false);
        Ok(Party {
            user: user.clone(),
            name: person.name,
            dnd,
        })
    }

    async fn teams_lookup(
        &self,
        teams: &TeamsAdapter,
        lookup: &Lookup,
        now: DateTime<Utc>,
    ) -> Result<DirectoryUser, Unresolved> {
        teams
            .resolve_user(lookup, now)
            .await
            .map_err(|_| Unresolved::Directory)?
            .ok_or(Unresolved::NoSuchUser)
    }

    async fn teams_by_address(
        &self,
        teams: &TeamsAdapter,
        email: &Email,
        now: DateTime<Utc>,
    ) -> Result<DirectoryUser, Unresolved> {
        self.teams_lookup(teams, &Lookup::Address(email.clone()), now)
            .await
    }

    /// The Teams user a Slack user is linked to; unlinked users are linked now when their
    /// verified Slack address names a Teams user.
    async fn teams_for_slack(
        &self,
        teams: &TeamsAdapter,
        slack: &UserRef,
        now: DateTime<Utc>,
    ) -> Result<DirectoryUser, Unresolved> {
        let UserRef::Slack { team, user } = slack else {
            return Err(Unresolved::NoSuchUser);
        };
        if let Some(link) = self
            .store
            .link_for_slack(team, user)
            .await
            .map_err(|_| Unresolved::Directory)?
        {
            return self
                .teams_lookup(teams, &Lookup::Id(link.teams_user), now)
                .await;
        }
        let slack_adapter = self.slack.as_ref().ok_or(Unresolved::PlatformMissing)?;
        let email = slack_adapter
            .person(team, user)
            .await
            .map_err(|_| Unresolved::Directory)?
            .and_then(|person| person.email)
            .ok_or(Unresolved::NotLinked)?;
        let found = self
            .teams_by_address(teams, &email, now)
            .await
            .map_err(|_| Unresolved::NotLinked)?;
        let link = super::links::record(
            &self.store,
            self.tenant,
            team,
            user,
            teams.config().tenant,
            found.id,
            now,
        )
        .await;
        if let (Some(link), Some(mirror)) = (link, &self.mirror) {
            mirror.add_link(&link).await;
        }
        Ok(found)
    }

    /// The Slack user with this verified address, in the first workspace that has one.
    async fn slack_by_email(&self, email: &Email) -> Result<UserRef, Unresolved> {
        let slack = self.slack.as_ref().ok_or(Unresolved::PlatformMissing)?;
        let installations = self
            .store
            .installations()
            .await
            .map_err(|_| Unresolved::Directory)?;
        for installation in installations
            .iter()
            .filter(|i| i.platform == Platform::Slack && i.revoked_at.is_none())
        {
            let Ok(team) = installation.external_id.parse::<SlackTeamId>() else {
                continue;
            };
            if let Some(person) = slack
                .person_by_email(&team, email)
                .await
                .map_err(|_| Unresolved::Directory)?
            {
                return Ok(person.user);
            }
        }
        Err(Unresolved::NoSuchUser)
    }
}

/// 128 random bits from the system generator.
fn nonce() -> [u8; 16] {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0; 16];
    // The system generator does not fail on supported platforms; a zero nonce would still
    // be signed and expiring, only not unique.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
}

fn slack_ref(link: &UserLink) -> UserRef {
    UserRef::Slack {
        team: link.slack_team.clone(),
        user: link.slack_user.clone(),
    }
}
