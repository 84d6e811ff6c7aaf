//! Access tokens, refresh tokens and OAuth codes, with rotation (slack-api.md §1 "Token
//! prefixes", §5.2).

use std::collections::HashMap;

use super::ids;

/// Access tokens last 12 hours when rotation is on (§0.6, §5.2).
pub(crate) const ROTATING_TOKEN_LIFETIME_SECS: i64 = 43_200;

/// OAuth codes are exchanged at once; 10 minutes is the commonly cited lifetime (§5.1,
/// UNCONFIRMED there).
pub(crate) const OAUTH_CODE_LIFETIME_SECS: i64 = 600;

/// Whose token it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Bot,
    User,
}

impl TokenKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Bot => "bot",
            Self::User => "user",
        }
    }
}

/// One access token.
#[derive(Clone, Debug)]
pub(crate) struct TokenRecord {
    pub(crate) kind: TokenKind,
    pub(crate) team_id: String,
    /// The owner: a person for user tokens, the bot user for bot tokens.
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    /// Unix expiry for rotating tokens.
    pub(crate) expires_at: Option<i64>,
    pub(crate) revoked: bool,
}

impl TokenRecord {
    pub(crate) fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub(crate) fn scope_list(&self) -> String {
        self.scopes.join(",")
    }
}

/// One refresh token (`xoxe-1-…`); used at most once.
#[derive(Clone, Debug)]
pub(crate) struct RefreshRecord {
    pub(crate) kind: TokenKind,
    pub(crate) team_id: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) used: bool,
}

/// An authorization code from an approved consent page.
#[derive(Clone, Debug)]
pub(crate) struct CodeRecord {
    pub(crate) team_id: String,
    pub(crate) installer: String,
    pub(crate) bot_scopes: Vec<String>,
    pub(crate) user_scopes: Vec<String>,
    pub(crate) redirect_uri: String,
    pub(crate) issued_at: i64,
    pub(crate) used: bool,
}

/// A newly minted access token, with its refresh token when rotation is on.
#[derive(Clone, Debug)]
pub(crate) struct Minted {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) scopes: Vec<String>,
}

/// Every token the sandbox has issued.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    pub(crate) access: HashMap<String, TokenRecord>,
    pub(crate) refresh: HashMap<String, RefreshRecord>,
    pub(crate) codes: HashMap<String, CodeRecord>,
    /// Successful `grant_type=refresh_token` exchanges, for tests that count refreshes.
    pub(crate) refreshes: u64,
}

impl TokenStore {
    /// Mints an access token (and, with rotation, a refresh token) in the documented formats.
    pub(crate) fn mint(
        &mut self,
        kind: TokenKind,
        team_id: &str,
        user_id: &str,
        scopes: &[String],
        rotation: bool,
        now: i64,
    ) -> Minted {
        let kind_letter = match kind {
            TokenKind::Bot => "b",
            TokenKind::User => "p",
        };
        let tail = format!(
            "{}-{}-{}",
            ids::digits(12),
            ids::digits(13),
            ids::secret(24)
        );
        let access_token = if rotation {
            format!("xoxe.xox{kind_letter}-1-{tail}")
        } else {
            format!("xox{kind_letter}-{tail}")
        };
        self.access.insert(
            access_token.clone(),
            TokenRecord {
                kind,
                team_id: team_id.to_owned(),
                user_id: user_id.to_owned(),
                scopes: scopes.to_vec(),
                expires_at: rotation.then_some(now + ROTATING_TOKEN_LIFETIME_SECS),
                revoked: false,
            },
        );
        let refresh_token = rotation.then(|| {
            let token = format!("xoxe-1-{}", ids::secret(40));
            self.refresh.insert(
                token.clone(),
                RefreshRecord {
                    kind,
                    team_id: team_id.to_owned(),
                    user_id: user_id.to_owned(),
                    scopes: scopes.to_vec(),
                    used: false,
                },
            );
            token
        });
        Minted {
            access_token,
            refresh_token,
            scopes: scopes.to_vec(),
        }
    }

    /// Revokes every token of a team; returns the owners of user tokens and of bot tokens.
    pub(crate) fn revoke_team(&mut self, team_id: &str) -> (Vec<String>, Vec<String>) {
        let mut users = Vec::new();
        let mut bots = Vec::new();
        for record in self.access.values_mut() {
            if record.team_id == team_id && !record.revoked {
                record.revoked = true;
                let list = match record.kind {
                    TokenKind::Bot => &mut bots,
                    TokenKind::User => &mut users,
                };
                if !list.contains(&record.user_id) {
                    list.push(record.user_id.clone());
                }
            }
        }
        for record in self.refresh.values_mut() {
            if record.team_id == team_id {
                record.used = true;
            }
        }
        users.sort();
        bots.sort();
        (users, bots)
    }
}
