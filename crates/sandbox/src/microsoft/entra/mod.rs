//! Entra ID (Microsoft identity platform v2.0): token endpoint, authorize and consent pages,
//! admin consent, OIDC metadata and JWKS (reference `teams-graph.md` §1).

mod authorize;
mod errors;
mod metadata;
mod scopes;
mod token;

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};

pub(crate) use errors::Aadsts;
pub(crate) use scopes::GRAPH_RESOURCE;

use super::MicrosoftSeed;
use super::state::MicrosoftState;

/// How long an authorization code can be redeemed (documented: about 10 minutes).
const CODE_LIFETIME_SECS: i64 = 600;
/// Access token lifetime reported as `expires_in`.
const ACCESS_TOKEN_SECS: i64 = 3599;
/// Refresh tokens of web apps: unspecified and long; 90 days of inactivity as Entra's default.
const REFRESH_TOKEN_SECS: i64 = 90 * 24 * 3600;

/// Mutable Entra bookkeeping: consents, issued codes and refresh tokens.
#[derive(Debug, Default)]
pub(crate) struct EntraBook {
    /// (tenant id, client id) pairs an admin consented for.
    pub(crate) admin_consents: HashSet<(String, String)>,
    /// (user id, client id) pairs a user consented for.
    pub(crate) user_consents: HashSet<(String, String)>,
    /// Outstanding and redeemed authorization codes.
    pub(crate) codes: HashMap<String, CodeGrant>,
    /// Refresh tokens, old ones stay valid after rotation.
    pub(crate) refresh_tokens: HashMap<String, RefreshGrant>,
    /// Service principal object ids (the `oid` of app-only tokens) per client id.
    pub(crate) service_principals: HashMap<String, String>,
    /// When set, every token request of this client fails with AADSTS65001 (consent revoked).
    pub(crate) consent_revoked: HashSet<String>,
}

/// One authorization code issued by the consent page.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) code_challenge: Option<(String, String)>,
    pub(crate) user_id: String,
    pub(crate) nonce: Option<String>,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) redeemed: bool,
}

/// One refresh token.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) user_id: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires_at: DateTime<Utc>,
}

impl EntraBook {
    pub(crate) fn from_seed(seed: &MicrosoftSeed) -> Self {
        let mut book = Self::default();
        for tenant in &seed.tenants {
            for app in &tenant.apps {
                if app.admin_consented {
                    book.admin_consents
                        .insert((tenant.id.clone(), app.client_id.clone()));
                }
                book.service_principals
                    .insert(app.client_id.clone(), uuid::Uuid::new_v4().to_string());
            }
        }
        book
    }
}

/// Entra routes (login.microsoftonline.com paths, served at the sandbox root).
pub(crate) fn routes() -> Router<MicrosoftState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::authorize_page).post(authorize::authorize_decision),
        )
        .route(
            "/{tenant}/adminconsent",
            get(authorize::admin_consent_page).post(authorize::admin_consent_decision),
        )
        .route(
            "/{tenant}/v2.0/adminconsent",
            get(authorize::admin_consent_page_v2).post(authorize::admin_consent_decision_v2),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(metadata::openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(metadata::openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(metadata::jwks))
        .route("/{tenant}/discovery/keys", get(metadata::jwks))
}
