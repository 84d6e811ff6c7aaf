//! Tenants, users and app registrations the sandbox starts with, read from TOML.

use serde::{Deserialize, Serialize};

use super::SandboxError;

/// Everything the Microsoft sandbox knows at start: tenants with their users and apps.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MicrosoftSeed {
    /// The Entra tenants.
    #[serde(default)]
    pub tenants: Vec<TenantSeed>,
}

/// One Entra tenant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TenantSeed {
    /// Tenant GUID (`tid`).
    pub id: String,
    /// Verified domain, usable instead of the GUID in Entra URLs.
    pub domain: String,
    /// Organisation display name.
    #[serde(default)]
    pub display_name: String,
    /// Users of the tenant.
    #[serde(default)]
    pub users: Vec<UserSeed>,
    /// App registrations living in (or consented into) the tenant.
    #[serde(default)]
    pub apps: Vec<AppSeed>,
}

/// One Teams user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserSeed {
    /// AAD object id (GUID), the Graph user id.
    pub id: String,
    /// User principal name.
    pub upn: String,
    /// Primary SMTP address.
    #[serde(default)]
    pub mail: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Surname.
    #[serde(default)]
    pub surname: Option<String>,
    /// Teams Phone (Direct Routing) number, E.164 with `+`.
    #[serde(default)]
    pub phone: Option<String>,
    /// Availability of the user's own Teams client at start; `Offline` means not signed in.
    #[serde(default = "default_availability")]
    pub availability: String,
    /// Activity of the user's own Teams client at start.
    #[serde(default = "default_availability")]
    pub activity: String,
}

fn default_availability() -> String {
    "Available".to_owned()
}

/// One app registration (also the bot's Microsoft App ID).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppSeed {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Redirect URIs, matched exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Application permissions (`roles` of app-only tokens) once an admin consented.
    #[serde(default)]
    pub application_permissions: Vec<String>,
    /// Whether a tenant admin has already granted the application permissions.
    #[serde(default)]
    pub admin_consented: bool,
    /// The bot's messaging endpoint, where the Bot Connector posts activities.
    #[serde(default)]
    pub messaging_endpoint: Option<String>,
}

impl MicrosoftSeed {
    /// Parses a seed file.
    pub fn from_toml_str(text: &str) -> Result<Self, SandboxError> {
        let seed: Self =
            toml::from_str(text).map_err(|error| SandboxError::Misconfigured(error.to_string()))?;
        seed.validate()?;
        Ok(seed)
    }

    /// One tenant (Contoso) with three phone-enabled users and the callbridge app registration.
    pub fn demo() -> Self {
        let user = |id: &str, name: &str, login: &str, phone: &str| UserSeed {
            id: id.to_owned(),
            upn: format!("{login}@contoso.test"),
            mail: Some(format!("{login}@contoso.test")),
            display_name: name.to_owned(),
            given_name: name.split(' ').next().map(str::to_owned),
            surname: name.split(' ').nth(1).map(str::to_owned),
            phone: Some(phone.to_owned()),
            availability: default_availability(),
            activity: default_availability(),
        };
        Self {
            tenants: vec![TenantSeed {
                id: "8a4e9b62-3c1d-4f5e-9a7b-2c6d8e0f1a3b".to_owned(),
                domain: "contoso.test".to_owned(),
                display_name: "Contoso".to_owned(),
                users: vec![
                    user(
                        "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b",
                        "Alice Adams",
                        "alice",
                        "+14255550101",
                    ),
                    user(
                        "4a3b2c1d-6e5f-4a70-9b8c-1d0e2f3a4b5c",
                        "Bob Brown",
                        "bob",
                        "+14255550102",
                    ),
                    user(
                        "5b4c3d2e-7f6a-4b80-8c9d-2e1f3a4b5c6d",
                        "Carol Clark",
                        "carol",
                        "+14255550103",
                    ),
                ],
                apps: vec![AppSeed {
                    client_id: "6c5d4e3f-8a7b-4c90-9d0e-3f2a4b5c6d7e".to_owned(),
                    client_secret: "sandbox-secret-change-me".to_owned(),
                    display_name: "callbridge".to_owned(),
                    redirect_uris: vec!["http://localhost:8080/teams/oauth/callback".to_owned()],
                    application_permissions: vec![
                        "Presence.Read.All".to_owned(),
                        "Presence.ReadWrite.All".to_owned(),
                        "User.Read.All".to_owned(),
                    ],
                    admin_consented: true,
                    messaging_endpoint: None,
                }],
            }],
        }
    }

    /// Checks the cross-references a running sandbox relies on.
    fn validate(&self) -> Result<(), SandboxError> {
        for tenant in &self.tenants {
            if uuid::Uuid::parse_str(&tenant.id).is_err() {
                return Err(SandboxError::Misconfigured(format!(
                    "tenant id {:?} is not a GUID",
                    tenant.id
                )));
            }
            for user in &tenant.users {
                if uuid::Uuid::parse_str(&user.id).is_err() {
                    return Err(SandboxError::Misconfigured(format!(
                        "user id {:?} is not a GUID",
                        user.id
                    )));
                }
                if let Some(phone) = &user.phone
                    && !is_e164(phone)
                {
                    return Err(SandboxError::Misconfigured(format!(
                        "phone {phone:?} of {} is not E.164 with a leading +",
                        user.upn
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `+` followed by 2 to 15 digits.
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_round_trips_through_toml() {
        let text = toml::to_string(&MicrosoftSeed::demo()).unwrap();
        let seed = MicrosoftSeed::from_toml_str(&text).unwrap();
        assert_eq!(seed.tenants[0].users.len(), 3);
        assert_eq!(
            seed.tenants[0].users[1].phone.as_deref(),
            Some("+14255550102")
        );
    }

    #[test]
    fn non_e164_phone_is_rejected() {
        let mut seed = MicrosoftSeed::demo();
        seed.tenants[0].users[0].phone = Some("4255550101".to_owned());
        let text = toml::to_string(&seed).unwrap();
        assert!(matches!(
            MicrosoftSeed::from_toml_str(&text),
            Err(SandboxError::Misconfigured(_))
        ));
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    #[test]
    fn shipped_fixture_loads() {
        let text = include_str!("../../fixtures/microsoft-demo.toml");
        let seed = MicrosoftSeed::from_toml_str(text).unwrap();
        let users = &seed.tenants[0].users;
        assert_eq!(users.len(), 3);
        assert_eq!(
            (users[1].availability.as_str(), users[1].activity.as_str()),
            ("Busy", "InAMeeting")
        );
        assert_eq!(users[2].given_name, None);
        assert!(MicrosoftSeed::from_toml_str("tenants = 3").is_err());
    }
}
