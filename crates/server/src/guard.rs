//! What every keyed route does before its handler runs, from the request's headers alone: no
//! byte of the body is read until the caller is known, allowed and within its limits.
//!
//! In order: refuse everything (503) when the keys could not be re-read from the store for longer
//! than `--key-max-staleness` (a revoked key must not keep working); authenticate (401); apply
//! the per-key rate limit (429); refuse a key stopped for probing (429); check the role (403);
//! and for uploads take an upload permit (503 with `Retry-After` when `--max-concurrent-uploads`
//! uploads are being read already) that is held until the answer is made. The caller is then
//! handed to the handler through the request's extensions ([`Auth`]).

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use spoor_bank::Role;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::AppState;

/// What a group of routes requires.
#[derive(Clone, Copy)]
pub struct Need {
    /// Roles allowed.
    pub roles: &'static [Role],
    /// What the routes do, for the 403 message ("match", "read or change banks").
    pub what: &'static str,
    /// Whether the routes read an upload (and so need an upload permit).
    pub upload: bool,
}

/// The authenticated caller, as the guard found it.
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Auth)
            .ok_or_else(|| ApiError::internal("a keyed route is not behind the guard"))
    }
}

/// A refusal: the error, and the `Retry-After` seconds to send with it, if any.
type Refusal = (ApiError, Option<u32>);

/// Adds `Retry-After` (seconds) to an error answer.
pub fn retry_after(e: ApiError, seconds: u32) -> Response {
    let mut r = e.into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    r
}

fn answer((e, retry): Refusal) -> Response {
    match retry {
        Some(s) => retry_after(e, s),
        None => e.into_response(),
    }
}

/// Largest body read (and dropped) before a refusal is answered, so that a client still sending
/// a small body gets the answer rather than a reset connection. Larger bodies are never read.
const DRAIN_LIMIT: u64 = 64 << 10;

/// Answers a refused request. A body the client declared small is read and dropped first (within
/// a second), so that its answer is not lost to a connection reset; any other body is left unread
/// and the connection closed after the answer.
async fn refuse(req: Request, answer: Response) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > 0 && n <= DRAIN_LIMIT) {
        let body = req.into_body();
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            axum::body::to_bytes(body, DRAIN_LIMIT as usize),
        )
        .await;
    }
    answer
}

/// The middleware: see the module documentation.
pub async fn guard(
    State((state, need)): State<(AppState, Need)>,
    mut req: Request,
    next: Next,
) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let checked = check(&state, need, header);
    match checked {
        Ok((p, permit)) => {
            req.extensions_mut().insert(p);
            let resp = next.run(req).await;
            drop(permit);
            resp
        }
        Err(refusal) => refuse(req, answer(refusal)).await,
    }
}

/// Everything the guard checks, in order; the caller and its upload permit, or the answer.
fn check(
    state: &AppState,
    need: Need,
    header: Option<&str>,
) -> Result<(Principal, Option<tokio::sync::OwnedSemaphorePermit>), Refusal> {
    let max_age = state.config.key_max_staleness;
    let age = state.keys.age();
    if age > max_age {
        metrics::counter!("spoor_stale_keys_refusals_total").increment(1);
        return Err((
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "unavailable",
                message: format!(
                    "the API keys could not be re-read from the bank store for {:.0} s (more \
                     than --key-max-staleness, {:.0} s): a key revoked meanwhile could still be \
                     trusted, so no data route answers until the store is reachable again",
                    age.as_secs_f64(),
                    max_age.as_secs_f64()
                ),
            },
            Some(5),
        ));
    }
    let p = state.keys.authenticate(header).map_err(|e| (e, None))?;
    if let Some(limiter) = &state.limiter {
        if limiter.check_key(&p.key_id).is_err() {
            metrics::counter!("spoor_rate_limited_total").increment(1);
            return Err((
                ApiError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "rate_limited",
                    message: format!(
                        "key {:?} is over its rate limit of {} requests a second: slow down",
                        &*p.name, state.config.rate_limit
                    ),
                },
                Some(1),
            ));
        }
    }
    state.probes.check(&p).map_err(|e| (e, None))?;
    p.require(need.roles, need.what).map_err(|e| (e, None))?;
    let permit =
        if need.upload { Some(upload_permit(state).map_err(|e| (e, Some(1)))?) } else { None };
    Ok((p, permit))
}

/// One of the `--max-concurrent-uploads` permits, held while an upload (or media fetched by URL)
/// is in memory; 503 when all are taken.
pub(crate) fn upload_permit(
    state: &AppState,
) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    state.uploads.clone().try_acquire_owned().map_err(|_| {
        metrics::counter!("spoor_uploads_refused_total").increment(1);
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "busy",
            message: format!(
                "{} uploads are being received already (--max-concurrent-uploads): retry in a \
                 moment",
                state.config.max_concurrent_uploads
            ),
        }
    })
}
