//! The one API error type: every failure becomes `{"error":{"code","message"}}` with its status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use spoor_bank::BankError;

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`unauthorized`, `bad_request`…).
    pub code: &'static str,
    /// What went wrong and what to do, for people.
    pub message: String,
}

/// The JSON body of an error.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`,
    /// `payload_too_large`, `unsupported_media`, `rate_limited`, `probing_stopped`, `busy`,
    /// `over_budget`, `timeout`, `internal`, `unavailable`.
    pub code: String,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// A 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }
    /// A 401.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::UNAUTHORIZED, code: "unauthorized", message: message.into() }
    }
    /// A 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::FORBIDDEN, code: "forbidden", message: message.into() }
    }
    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::NOT_FOUND, code: "not_found", message: message.into() }
    }
    /// A 413.
    pub fn too_large(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: message.into(),
        }
    }
    /// A 500 whose detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error: the server log has the details".into(),
        }
    }
}

impl From<BankError> for ApiError {
    fn from(e: BankError) -> Self {
        let (status, code) = match &e {
            BankError::NoSuchBank(_)
            | BankError::NoSuchEntry { .. }
            | BankError::NoSuchKey(_)
            | BankError::NoSuchExchange(_)
            | BankError::NoSuchCase(_)
            | BankError::NoSuchReport(_)
            | BankError::NoSuchComplaint(_)
            | BankError::NoSuchFollowUp(_)
            | BankError::NoSuchContent(_) => (StatusCode::NOT_FOUND, "not_found"),
            BankError::NotAllowed(_) => (StatusCode::FORBIDDEN, "forbidden"),
            BankError::BankExists(_) | BankError::KeyExists(_) | BankError::Conflict(_) => {
                (StatusCode::CONFLICT, "conflict")
            }
            BankError::InvalidBankName(_) | BankError::Invalid(_) => {
                (StatusCode::BAD_REQUEST, "bad_request")
            }
            BankError::Sqlite { .. }
            | BankError::Postgres(_)
            | BankError::Unreachable { .. }
            | BankError::Connection { .. }
            | BankError::Io { .. }
            | BankError::SchemaTooNew { .. } => {
                tracing::error!(error = %e, "store error");
                return ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "unavailable",
                    message: "the bank store failed: try again; the server log has the details"
                        .into(),
                };
            }
        };
        ApiError { status, code, message: e.to_string() }
    }
}

/// The message of an error answer, kept with the response so that routes answering in another
/// shape (HMA's `{"message": …}`) can rewrite the body.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mark = ErrorMessage(self.message.clone());
        let body =
            ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.extensions_mut().insert(mark);
        resp
    }
}
