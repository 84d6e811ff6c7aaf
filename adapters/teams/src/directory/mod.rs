//! Directory look-ups in Graph (reference `teams-graph.md` §7): a Teams user by object id, UPN
//! or mail, with the E.164 number they are reachable on through Direct Routing. Graph shows a
//! Teams Phone number among `businessPhones`; the first entry that is E.164 is the one the
//! trunk dials.

use callbridge_adapter::{AdapterError, Secret};
use callbridge_model::{AadObjectId, Email, PhoneNumber};
use http::StatusCode;
use reqwest::Method;
use serde::Deserialize;

use crate::config::TeamsConfig;
use crate::graph::http::GraphHttp;

/// The properties read (`$select` keeps the answer small and its cost low, §6).
const SELECT: &str = "id,displayName,mail,userPrincipalName,businessPhones";

/// A Teams user as callbridge needs them.
#[derive(Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The Entra object id.
    pub id: AadObjectId,
    /// The display name.
    pub display_name: String,
    /// The user principal name, lowercased.
    pub upn: Option<Email>,
    /// The mail address, lowercased.
    pub mail: Option<Email>,
    /// The Direct Routing number, when the user has one.
    pub phone: Option<PhoneNumber>,
}

impl std::fmt::Debug for DirectoryUser {
    // Names, addresses and numbers are personal data: only the id is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryUser")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default)]
    user_principal_name: Option<String>,
    #[serde(default)]
    business_phones: Vec<String>,
}

#[derive(Deserialize)]
struct UserList {
    value: Vec<GraphUser>,
}

impl GraphUser {
    fn into_user(self) -> Result<DirectoryUser, AdapterError> {
        let id = self
            .id
            .parse()
            .map_err(|_| AdapterError::PlatformMisbehaved {
                method: "users.get".to_owned(),
                detail: "user id is not a GUID".to_owned(),
            })?;
        Ok(DirectoryUser {
            id,
            display_name: self.display_name.unwrap_or_default(),
            upn: self
                .user_principal_name
                .and_then(|upn| Email::parse_lenient(&upn).ok()),
            mail: self.mail.and_then(|mail| Email::parse_lenient(&mail).ok()),
            phone: self
                .business_phones
                .iter()
                .find_map(|phone| normalise_e164(phone)),
        })
    }
}

/// A phone number as written in the directory (`+1 425 555 0101`) in E.164, if it is one.
fn normalise_e164(text: &str) -> Option<PhoneNumber> {
    let trimmed = text.trim();
    let digits: String = trimmed
        .strip_prefix('+')?
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    format!("+{digits}").parse().ok()
}

/// What a person typed to name a Teams user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// An object id.
    Id(AadObjectId),
    /// A UPN or mail address.
    Address(Email),
}

/// Directory reads for one tenant.
#[derive(Clone, Debug)]
pub struct Directory {
    http: GraphHttp,
}

impl Directory {
    pub(crate) const fn new(http: GraphHttp) -> Self {
        Self { http }
    }

    /// The user named by `lookup`, or `None` when the directory has no such user. An address
    /// is tried as a UPN first, then as a mail address.
    pub async fn resolve(
        &self,
        config: &TeamsConfig,
        token: &Secret,
        lookup: &Lookup,
    ) -> Result<Option<DirectoryUser>, AdapterError> {
        match lookup {
            Lookup::Id(id) => self.get(config, token, &id.to_string()).await,
            Lookup::Address(address) => {
                let upn = address.as_str();
                // UPNs starting with `$` must be written in the key form (§7).
                let key = if upn.starts_with('$') {
                    format!("('{upn}')")
                } else {
                    encode_segment(upn)
                };
                if let Some(user) = self.get(config, token, &key).await? {
                    return Ok(Some(user));
                }
                self.by_mail(config, token, upn).await
            }
        }
    }

    async fn get(
        &self,
        config: &TeamsConfig,
        token: &Secret,
        key: &str,
    ) -> Result<Option<DirectoryUser>, AdapterError> {
        let separator = if key.starts_with('(') { "" } else { "/" };
        let mut url = config.graph_url(&format!("/users{separator}{key}"))?;
        url.query_pairs_mut().append_pair("$select", SELECT);
        let reply = self
            .http
            .send("users.get", Method::GET, url, token.expose(), None, true)
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        reply.json::<GraphUser>("users.get")?.into_user().map(Some)
    }

    async fn by_mail(
        &self,
        config: &TeamsConfig,
        token: &Secret,
        mail: &str,
    ) -> Result<Option<DirectoryUser>, AdapterError> {
        let mut url = config.graph_url("/users")?;
        // OData string literals double their quotes.
        let literal = mail.replace('\'', "''");
        url.query_pairs_mut()
            .append_pair("$filter", &format!("mail eq '{literal}'"))
            .append_pair("$select", SELECT);
        let list: UserList = self
            .http
            .send("users.list", Method::GET, url, token.expose(), None, true)
            .await?
            .json("users.list")?;
        list.value
            .into_iter()
            .next()
            .map(GraphUser::into_user)
            .transpose()
    }
}

/// Percent-encodes one path segment (`#` in B2B UPNs must become `%23`, §7).
fn encode_segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
        .replace("%40", "@")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_numbers_become_e164_or_nothing() {
        assert_eq!(
            normalise_e164("+1 (425) 555-0101").unwrap().as_str(),
            "+14255550101"
        );
        assert_eq!(normalise_e164("425 555 0101"), None);
        assert_eq!(normalise_e164("+1 425 ext 5"), None);
    }

    #[test]
    fn upn_segments_encode_b2b_hashes() {
        assert_eq!(
            encode_segment("bob_fabrikam.com#EXT#@contoso.test"),
            "bob_fabrikam.com%23EXT%23@contoso.test"
        );
    }
}
