//! Microsoft Graph v1.0: users, presence and presence subscriptions, with Graph's error JSON
//! and presence throttling (reference `teams-graph.md` §3, §4, §6, §7).

mod auth;
mod duration;
mod error;
pub(crate) use error::GraphError;
pub(crate) mod notify;
mod presence;
pub(crate) mod presence_model;
mod resource;
mod rich;
pub(crate) mod subscriptions;
pub(crate) mod throttle;
mod users;

use axum::Router;
use axum::routing::{get, post};

pub use presence_model::PresenceState;
pub use subscriptions::{DeliveryOutcome, DeliveryRecord};

use super::state::MicrosoftState;

/// Graph routes under `/v1.0`.
pub(crate) fn routes() -> Router<MicrosoftState> {
    Router::new()
        .route("/v1.0/users", get(users::list_users))
        .route("/v1.0/users/{id}", get(users::get_user))
        .route("/v1.0/me", get(users::get_me))
        .route("/v1.0/me/presence", get(presence::get_my_presence))
        .route("/v1.0/users/{id}/presence", get(presence::get_presence))
        .route(
            "/v1.0/communications/presences/{id}",
            get(presence::get_presence),
        )
        .route(
            "/v1.0/communications/getPresencesByUserId",
            post(presence::get_presences_by_user_id),
        )
        .route(
            "/v1.0/users/{id}/presence/{action}",
            post(presence::presence_action),
        )
        .route(
            "/v1.0/subscriptions",
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            "/v1.0/subscriptions/{id}",
            get(subscriptions::get_one)
                .patch(subscriptions::renew)
                .delete(subscriptions::delete),
        )
        .route(
            "/v1.0/subscriptions/{id}/reauthorize",
            post(subscriptions::reauthorize),
        )
}
