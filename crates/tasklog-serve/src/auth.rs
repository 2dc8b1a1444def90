//! The token rule: with a token configured, every request but `/healthz`
//! carries it, as `Authorization: Bearer <token>` or in the dashboard's
//! cookie. A page opened once with `?token=` gets the cookie (HttpOnly,
//! SameSite=Strict, `Secure` over TLS) and is redirected to the same
//! address without it, so the token leaves the address bar and the
//! history. Cookies are shared by every port of a host, so the cookie's
//! name carries the port: two servers on one host never see each other's
//! token. The redirect is a path on this server, never another host.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;

/// The cookie that carries the token for the dashboard: this prefix and
/// the bound port.
const COOKIE: &str = "tasklog_token_";

/// The cookie's name for a server on `port`.
pub fn cookie_name(port: u16) -> String {
    format!("{COOKIE}{port}")
}

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
            let cookie = cookie_name(state.host_rule.port);
            return remember(req.uri().path(), &rest, token, &cookie, state.options.tls);
        }
        return ApiError::unauthorized().into_response();
    }
    let name = cookie_name(state.host_rule.port);
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
        .filter_map(|pair| pair.trim().strip_prefix(name.as_str())?.strip_prefix('='))
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
fn remember(path: &str, rest: &str, token: &str, name: &str, tls: bool) -> Response {
    let location = relative_location(path, rest);
    let secure = if tls { "; Secure" } else { "" };
    let cookie = format!("{name}={token}; HttpOnly; SameSite=Strict; Path=/{secure}");
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

/// A redirect target on this server: `//host/...` and `/\\host` would be
/// read by browsers as another host, so such a path becomes `/`.
fn relative_location(path: &str, rest: &str) -> String {
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control);
    let path = if safe { path } else { "/" };
    if rest.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{rest}")
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
    fn redirects_stay_here() {
        assert_eq!(relative_location("/", ""), "/");
        assert_eq!(relative_location("/tasks/x", "a=1"), "/tasks/x?a=1");
        for off_site in ["//evil.example", "//evil.example/x", "/\\evil.example", "x"] {
            assert_eq!(relative_location(off_site, ""), "/", "{off_site}");
        }
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
