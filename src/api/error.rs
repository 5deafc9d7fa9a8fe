//! The one error shape of the API: `{"code", "message", "field"}` with the right status.
//!
//! # Guarantees
//! - Internal errors become 500 with a generic message; the detail goes to the log only.
//! - Extractor rejections (bad JSON, too large, wrong content type) use this shape too.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::resource::ValidationErrors;
use crate::store;

/// What a client gets when a request fails.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Machine-readable: Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge,
    /// Invalid, BadRequest, TooManyRequests, Timeout, Internal.
    pub code: &'static str,
    /// For a person: what went wrong and what to do.
    pub message: String,
    /// The field at fault (`spec.resources.memory`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field error, when validation found several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldDetail>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldDetail {
    pub field: String,
    pub rule: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                field: None,
                details: Vec::new(),
            },
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.body.field = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("tenant {name} not found"),
        )
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "a valid bearer token is required (Authorization: Bearer <token>)",
        )
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %error, "internal error serving an API request");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            "internal error; the server log has the details",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> ApiError {
        let first = errors.0.first();
        let message = match errors.0.len() {
            1 => errors.to_string(),
            n => format!("{n} problems: {errors}"),
        };
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: ErrorBody {
                code: "Invalid",
                message,
                field: first.map(|e| e.field.clone()),
                details: errors
                    .0
                    .iter()
                    .map(|e| FieldDetail {
                        field: e.field.clone(),
                        rule: e.rule.clone(),
                        message: e.message.clone(),
                    })
                    .collect(),
            },
        }
    }
}

impl From<store::Error> for ApiError {
    fn from(error: store::Error) -> ApiError {
        match &error {
            store::Error::Conflict { .. } | store::Error::BeingDeleted { .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", error.to_string())
                    .with_field("metadata.resourceVersion")
            }
            store::Error::VersionOnCreate { .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", error.to_string())
                    .with_field("metadata.resourceVersion")
            }
            store::Error::NameTaken { .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", error.to_string())
                    .with_field("metadata.name")
            }
            store::Error::SubdomainTaken { .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", error.to_string())
                    .with_field("spec.subdomain")
            }
            // `field: metadata.source` tells clients (the CLI) that `force` would take it over.
            store::Error::OwnedByFile { .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", error.to_string())
                    .with_field("metadata.source")
            }
            store::Error::NotFound { name } => ApiError::not_found(name),
            // Retryable: the same request may well succeed a moment later.
            store::Error::Contended { .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", error.to_string())
            }
            _ => ApiError::internal(error),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let status = rejection.status();
        let code = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "PayloadTooLarge",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "BadRequest",
            StatusCode::UNPROCESSABLE_ENTITY => "Invalid",
            _ => "BadRequest",
        };
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "the request body is too large".to_owned(),
            _ => rejection.body_text(),
        };
        ApiError::new(status, code, message)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request(rejection.body_text())
    }
}
