//! What one person's client shows, read from the world under a single lock so a page never
//! mixes two moments: their profile, their conversations with the messages visible to them,
//! and the calls those messages point at.

use std::collections::{BTreeMap, HashMap};

use super::super::error::SandboxError;
use super::super::interact::misuse;
use super::super::model::{ShownMessage, SlackCall, UserView};
use super::super::state::{SLACKBOT, SlackState};

/// A person the picker offers.
#[derive(Clone, Debug)]
pub(crate) struct Person {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) real_name: String,
    pub(crate) email: String,
    pub(crate) workspace: String,
}

/// A conversation the person is a member of, with what they see in it, oldest first.
#[derive(Clone, Debug)]
pub(crate) struct Conversation {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) messages: Vec<ShownMessage>,
}

/// Everything one person's view is rendered from.
#[derive(Clone, Debug)]
pub(crate) struct Snapshot {
    pub(crate) me: Person,
    pub(crate) view: UserView,
    pub(crate) conversations: Vec<Conversation>,
    /// Display names of everyone who may author a message, by user id.
    pub(crate) names: HashMap<String, String>,
    /// Every call, by id, for the call blocks the messages carry.
    pub(crate) calls: BTreeMap<String, SlackCall>,
    /// The other people of the workspace, as Slack shows them in its member list.
    pub(crate) teammates: Vec<UserView>,
    /// Whether the DM with the app exists yet; Slack opens it on first use.
    pub(crate) app_dm_open: bool,
    pub(crate) app_name: String,
    pub(crate) slash_command: String,
}

impl SlackState {
    /// Every person of every workspace (bots excluded), in id order.
    pub(crate) fn client_people(&self) -> Vec<Person> {
        let world = self.world();
        world
            .users
            .values()
            .filter(|u| !u.is_bot && u.id != SLACKBOT)
            .map(|u| Person {
                id: u.id.clone(),
                name: u.name.clone(),
                real_name: u.real_name.clone(),
                email: u.email.clone(),
                workspace: world
                    .workspace(&u.team_id)
                    .map_or_else(|| u.team_id.clone(), |w| w.name.clone()),
            })
            .collect()
    }

    /// Whether `user` is a person (not a bot) of this sandbox, who may use the client.
    pub(crate) fn client_knows(&self, user: &str) -> bool {
        self.world().users.get(user).is_some_and(|u| !u.is_bot)
    }

    /// What `user` sees now; `None` for an unknown user or a bot.
    pub(crate) fn client_snapshot(&self, user: &str) -> Option<Snapshot> {
        let world = self.world();
        let person = world.users.get(user).filter(|u| !u.is_bot)?;
        let workspace = world.workspace(&person.team_id);
        let bot = workspace.and_then(|w| w.bot_user_id.clone());
        let mut names: HashMap<String, String> = world
            .users
            .values()
            .map(|u| (u.id.clone(), u.real_name.clone()))
            .collect();
        names.insert(SLACKBOT.to_owned(), "Slackbot".to_owned());
        let conversations: Vec<Conversation> = world
            .channels
            .values()
            .filter(|c| c.members.iter().any(|m| m == user))
            .map(|c| {
                let label = if c.is_im || c.is_mpim {
                    let others: Vec<&str> = c
                        .members
                        .iter()
                        .filter(|m| *m != user)
                        .map(|m| names.get(m).map_or(m.as_str(), String::as_str))
                        .collect();
                    format!("Direct message with {}", others.join(", "))
                } else {
                    format!("#{}", c.name)
                };
                let messages = world
                    .messages
                    .iter()
                    .filter(|m| {
                        m.channel == c.id && m.ephemeral_to.as_deref().is_none_or(|to| to == user)
                    })
                    .cloned()
                    .collect();
                Conversation {
                    id: c.id.clone(),
                    label,
                    messages,
                }
            })
            .collect();
        let app_dm_open = bot.as_ref().is_some_and(|bot| {
            world
                .channels
                .values()
                .any(|c| c.is_im && c.members.iter().any(|m| m == user) && c.members.contains(bot))
        });
        let teammates = world
            .users
            .values()
            .filter(|u| u.team_id == person.team_id && u.id != person.id)
            .filter(|u| !u.is_bot && u.id != SLACKBOT)
            .map(UserView::from)
            .collect();
        Some(Snapshot {
            teammates,
            me: Person {
                id: person.id.clone(),
                name: person.name.clone(),
                real_name: person.real_name.clone(),
                email: person.email.clone(),
                workspace: workspace.map_or_else(|| person.team_id.clone(), |w| w.name.clone()),
            },
            view: person.into(),
            conversations,
            names,
            calls: world.calls.clone(),
            app_dm_open: bot.is_some() && app_dm_open,
            app_name: world.app.name.clone(),
            slash_command: world.app.slash_command.clone(),
        })
    }

    /// `user` posts plain `text` in `channel`, which they must be a member of. No event goes
    /// to the app: the demo app subscribes to no message events.
    pub(crate) fn client_post(
        &self,
        user: &str,
        channel: &str,
        text: &str,
    ) -> Result<(), SandboxError> {
        let now = self.now();
        let mut world = self.world();
        let member = world
            .channels
            .get(channel)
            .is_some_and(|c| c.members.iter().any(|m| m == user));
        if !member {
            return Err(misuse(format!("{user} is not in {channel}")));
        }
        let message = world.new_message(channel, user, text, None, now);
        world.post(message);
        Ok(())
    }
}
