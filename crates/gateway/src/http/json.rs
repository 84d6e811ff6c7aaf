//! A JSON body extractor whose rejections are [`ApiError`]s, so malformed input gets the same
//! error shape as everything else and says what was wrong with it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `Json<T>` with [`ApiError`] rejections.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => {
                metrics::counter!("ingress_rejected_total", "reason" => rejection_reason(&rejection)).increment(1);
                Err(match rejection.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
                    // The text describes the client's own input (line, column, field), nothing internal.
                    _ => ApiError::BadRequest(rejection.body_text()),
                })
            }
        }
    }
}

fn rejection_reason(rejection: &JsonRejection) -> &'static str {
    match rejection {
        JsonRejection::JsonDataError(_) => "json_data",
        JsonRejection::JsonSyntaxError(_) => "json_syntax",
        JsonRejection::MissingJsonContentType(_) => "content_type",
        JsonRejection::BytesRejection(_) => "body",
        _ => "other",
    }
}
