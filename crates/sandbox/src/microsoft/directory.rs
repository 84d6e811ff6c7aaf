//! Look-ups over the seeded tenants, users and apps.

use super::seed::{AppSeed, MicrosoftSeed, TenantSeed, UserSeed};

/// The tenant id the Bot Framework's multi-tenant authority `botframework.com` stands for.
pub(crate) const BOTFRAMEWORK_TENANT: &str = "d6d49420-f39b-4df7-a1dc-d59a935871db";

/// Read-only directory built from the seed.
#[derive(Debug)]
pub(crate) struct Directory {
    seed: MicrosoftSeed,
}

impl Directory {
    pub(crate) fn new(seed: MicrosoftSeed) -> Self {
        Self { seed }
    }

    /// A tenant by GUID or verified domain (case-insensitive).
    pub(crate) fn tenant(&self, id_or_domain: &str) -> Option<&TenantSeed> {
        self.seed.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(id_or_domain) || t.domain.eq_ignore_ascii_case(id_or_domain)
        })
    }

    /// An app registration and its home tenant.
    pub(crate) fn app(&self, client_id: &str) -> Option<(&TenantSeed, &AppSeed)> {
        self.seed.tenants.iter().find_map(|t| {
            t.apps
                .iter()
                .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
                .map(|a| (t, a))
        })
    }

    /// A user by object id, UPN or mail, in any tenant.
    pub(crate) fn user(&self, key: &str) -> Option<(&TenantSeed, &UserSeed)> {
        self.seed.tenants.iter().find_map(|t| {
            t.users
                .iter()
                .find(|u| {
                    u.id.eq_ignore_ascii_case(key)
                        || u.upn.eq_ignore_ascii_case(key)
                        || u.mail
                            .as_deref()
                            .is_some_and(|m| m.eq_ignore_ascii_case(key))
                })
                .map(|u| (t, u))
        })
    }

    /// A user by object id within one tenant.
    pub(crate) fn user_in(&self, tenant_id: &str, user_id: &str) -> Option<&UserSeed> {
        self.tenant(tenant_id)?
            .users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(user_id))
    }

    /// Every user of every tenant.
    pub(crate) fn all_users(&self) -> impl Iterator<Item = &UserSeed> {
        self.seed.tenants.iter().flat_map(|t| t.users.iter())
    }
}
