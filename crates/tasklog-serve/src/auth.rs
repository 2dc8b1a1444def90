//! The token rule: with a token configured, every request but `/healthz`
//! carries it, as `Authorization: Bearer <token>` or in the dashboard's
//! cookie. A page opened once with `?token=` gets the cookie (HttpOnly,
//! SameSite=Strict) and is redirected to the same address without it, so
//! the token leaves the address bar and the history.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The cookie that carries the token for the dashboard.
const COOKIE: &str = "tasklog_token";

/// Middleware: lets a request through when no token is configured, when
/// it is `/healthz`, or when it carries the token.
pub async fn require(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(token) = state.options.token.as_deref() else {
        return next.run(req).await;
    };
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    if let Some((given, rest)) = query_token(req.uri().query()) {
        if same(given.as_bytes(), token.as_bytes()) && !req.uri().path().starts_with("/api/") {
            return remember(req.uri().path(), &rest, token);
        }
        return ApiError::unauthorized().into_response();
    }
    let headers = req.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .next();
    let ok = [bearer, cookie]
        .into_iter()
        .flatten()
        .any(|given| same(given.as_bytes(), token.as_bytes()));
    if ok {
        next.run(req).await
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Sets the cookie and redirects to the address without `token=`.
fn remember(path: &str, rest: &str, token: &str) -> Response {
    let location = if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{rest}")
    };
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let (Ok(loc), Ok(cookie)) = (
        HeaderValue::from_str(&location),
        HeaderValue::from_str(&cookie),
    ) {
        headers.insert(header::LOCATION, loc);
        headers.insert(header::SET_COOKIE, cookie);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    } else {
        ApiError::bad_request("the token cannot be sent back as a cookie").into_response()
    }
}

/// The decoded `token` parameter of a query string, and the query without it.
fn query_token(query: Option<&str>) -> Option<(String, String)> {
    let query = query?;
    let mut token = None;
    let mut rest = Vec::new();
    for pair in query.split('&') {
        match pair.strip_prefix("token=") {
            Some(_) if token.is_none() => {
                token = form_urlencoded::parse(pair.as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned());
            }
            _ => rest.push(pair),
        }
    }
    token.map(|t| (t, rest.join("&")))
}

/// Compares in time that depends on the length only, not on where the
/// first difference is, so the token cannot be guessed byte by byte.
fn same(given: &[u8], token: &[u8]) -> bool {
    if given.len() != token.len() {
        return false;
    }
    let diff = given
        .iter()
        .zip(token)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison() {
        assert!(same(b"secret", b"secret"));
        assert!(!same(b"secreT", b"secret"));
        assert!(!same(b"secret1", b"secret"));
        assert!(!same(b"", b"secret"));
    }

    #[test]
    fn token_parameter() {
        assert_eq!(
            query_token(Some("a=1&token=s%2Fx&b=2")),
            Some(("s/x".into(), "a=1&b=2".into()))
        );
        assert_eq!(query_token(Some("a=1")), None);
        assert_eq!(query_token(None), None);
    }
}
