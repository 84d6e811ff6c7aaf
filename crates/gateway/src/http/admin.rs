//! The admin API under `/api/v1`, for operators and the dashboard: live calls, CDRs, user links.
//! Every route needs `Authorization: Bearer <admin token>`.

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use callbridge_model::{AadObjectId, Call, Cdr, SlackTeamId, SlackUserId, TeamsTenantId};
use callbridge_store::{CallStore, UserLink, UserLinkStore};
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::json::ApiJson;
use crate::state::AppState;

/// The admin routes (already behind the bearer check).
pub(crate) fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/calls", get(live_calls))
        .route("/api/v1/cdrs", get(recent_cdrs))
        .route("/api/v1/links", get(list_links).post(create_link))
        .route("/api/v1/links/slack/{team}/{user}", delete(remove_link))
        .route("/api/v1/teams/consent", get(teams_consent_links))
        .route_layer(axum::middleware::from_fn_with_state(state, require_admin))
}

async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let authorized = match (state.admin_token(), presented) {
        (Some(expected), Some(presented)) => {
            verify_slices_are_equal(expected.expose().as_bytes(), presented.as_bytes()).is_ok()
        }
        _ => false,
    };
    if !authorized {
        metrics::counter!("ingress_rejected_total", "reason" => "admin_auth").increment(1);
        let mut response = ApiError::Unauthorized.into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    next.run(request).await
}

async fn live_calls(State(state): State<AppState>) -> Result<Json<Vec<Call>>, ApiError> {
    Ok(Json(state.store().live_calls().await?))
}

#[derive(Deserialize)]
struct CdrQuery {
    #[serde(default = "default_limit")]
    limit: u32,
}

fn default_limit() -> u32 {
    100
}

async fn recent_cdrs(
    State(state): State<AppState>,
    Query(query): Query<CdrQuery>,
) -> Result<Json<Vec<Cdr>>, ApiError> {
    if !(1..=1000).contains(&query.limit) {
        return Err(ApiError::BadRequest(
            "limit must be between 1 and 1000".into(),
        ));
    }
    Ok(Json(state.store().recent_cdrs(query.limit).await?))
}

/// A link as the admin API shows and takes it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    slack_team: SlackTeamId,
    slack_user: SlackUserId,
    teams_tenant: TeamsTenantId,
    teams_user: AadObjectId,
}

impl From<UserLink> for LinkBody {
    fn from(link: UserLink) -> Self {
        Self {
            slack_team: link.slack_team,
            slack_user: link.slack_user,
            teams_tenant: link.teams_tenant,
            teams_user: link.teams_user,
        }
    }
}

async fn list_links(State(state): State<AppState>) -> Result<Json<Vec<LinkBody>>, ApiError> {
    let links = state.store().links().await?;
    Ok(Json(links.into_iter().map(LinkBody::from).collect()))
}

async fn create_link(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<(StatusCode, Json<LinkBody>), ApiError> {
    let link = UserLink {
        tenant: state.tenant(),
        slack_team: body.slack_team,
        slack_user: body.slack_user,
        teams_tenant: body.teams_tenant,
        teams_user: body.teams_user,
        created_at: chrono::Utc::now(),
    };
    state.store().link_users(&link).await?;
    if let Some(mirror) = state.mirror() {
        mirror.add_link(&link).await;
    }
    tracing::info!("user link created");
    Ok((StatusCode::CREATED, Json(link.into())))
}

async fn remove_link(
    State(state): State<AppState>,
    Path((team, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let team: SlackTeamId = team
        .parse()
        .map_err(|e: callbridge_model::ParseError| ApiError::BadRequest(e.to_string()))?;
    let user: SlackUserId = user
        .parse()
        .map_err(|e: callbridge_model::ParseError| ApiError::BadRequest(e.to_string()))?;
    if state.store().unlink_slack(&team, &user).await? {
        if let Some(mirror) = state.mirror() {
            mirror.unlinked(callbridge_model::UserRef::Slack { team, user });
        }
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[derive(Deserialize)]
struct ConsentQuery {
    /// The subscriber account that is to sign in, if any.
    #[serde(default)]
    subscriber: Option<String>,
}

#[derive(Serialize)]
struct ConsentLinks {
    /// For a tenant admin: grant the application permissions.
    admin_consent_url: String,
    /// For the named subscriber account: sign in once so it can own presence subscriptions.
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_in_url: Option<String>,
}

/// The links an operator hands out to connect Teams: admin consent, and a subscriber
/// account's sign-in. Each link is single-use and expires.
async fn teams_consent_links(
    State(state): State<AppState>,
    Query(query): Query<ConsentQuery>,
) -> Result<Json<ConsentLinks>, ApiError> {
    let teams = state.platforms().teams().ok_or(ApiError::NotFound)?;
    let now = chrono::Utc::now();
    let admin_consent_url = teams.entra().admin_consent_url(now)?.to_string();
    let sign_in_url = match query.subscriber {
        None => None,
        Some(name) => {
            let account = teams
                .config()
                .subscribers
                .iter()
                .find(|account| account.name == name)
                .ok_or_else(|| {
                    ApiError::BadRequest("no subscriber account has that name".to_owned())
                })?;
            Some(teams.entra().sign_in_url(account, now)?.to_string())
        }
    };
    Ok(Json(ConsentLinks {
        admin_consent_url,
        sign_in_url,
    }))
}
