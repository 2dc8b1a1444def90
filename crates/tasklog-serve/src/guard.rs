//! The rules every request passes before the token check: who may name
//! the server (`Host`), who may ask it (`Origin`, `Sec-Fetch-Site`), what a
//! POST must look like, and the hardening headers on every answer.
//!
//! Why: a web page whose domain rebinds to 127.0.0.1 reaches a loopback
//! server with its own name in `Host`; refusing unknown names ends that
//! (DNS rebinding). A page on any other origin (another port of
//! localhost included) can send requests but must not make the server work
//! for it, so a foreign `Origin` or a cross-site fetch is refused, and a
//! POST must be `application/json`, which a browser sends across origins
//! only after a CORS preflight this server never approves.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::state::AppState;
use crate::vitals::Vitals;

/// The Content-Security-Policy of every answer: the dashboard loads its
/// own scripts and styles only, and no page may frame it.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
                       frame-ancestors 'none'";

/// Which `Host` names the server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// The bound port; a `Host` naming another port is refused.
    pub port: u16,
    /// Whether the bound address is loopback (then `localhost` is accepted).
    pub loopback: bool,
    /// Names accepted besides IP literals and (on loopback) `localhost`,
    /// lowercase; `*` accepts any name.
    pub allowed: Vec<String>,
}

impl HostRule {
    /// Whether a `Host` header value names this server. IP literals always
    /// do (rebinding needs a DNS name); `localhost` on a loopback bind; any
    /// other name only when listed.
    pub fn accepts(&self, host: &str) -> bool {
        let Ok(authority) = host.parse::<Authority>() else {
            return false;
        };
        if authority.as_str().contains('@') {
            return false;
        }
        if authority.port_u16().is_some_and(|p| p != self.port) {
            return false;
        }
        let name = authority.host().to_ascii_lowercase();
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        if bare.parse::<IpAddr>().is_ok() {
            return true;
        }
        let name = name.trim_end_matches('.');
        (self.loopback && name == "localhost") || self.allowed.iter().any(|a| a == "*" || a == name)
    }
}

/// Middleware: the host, origin and POST rules, then the security headers
/// on whatever answers (the refusals included).
pub async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let mut response = match check(&state, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            Vitals::count(&state.options.vitals.refused);
            e.into_response()
        }
    };
    harden(response.headers_mut());
    response
}

/// 403 or 415 when a rule refuses the request.
fn check(state: &AppState, req: &Request) -> Result<(), ApiError> {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(Authority::as_str))
        .unwrap_or("");
    if !state.host_rule.accepts(host) {
        return Err(ApiError::forbidden(format!(
            "Host {host:?} is not a name of this server: on a loopback address use localhost or \
             an IP address; list other names with --allow-host (docs/SECURITY.md)"
        )));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !same_origin(origin, host) {
            return Err(ApiError::forbidden(format!(
                "Origin {origin:?} is not this server ({host}): cross-origin requests are refused"
            )));
        }
    }
    if cross_site_fetch(headers) {
        return Err(ApiError::forbidden(
            "a request from another site is refused (Sec-Fetch-Site)",
        ));
    }
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads && !is_json(headers) {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!(
                "{} needs Content-Type: application/json (a JSON body such as {{\"sql\": \"...\"}})",
                req.method()
            ),
        });
    }
    Ok(())
}

/// Whether `origin` (`scheme://host[:port]`) names the same authority as
/// `host`. `null` (a sandboxed or local page) never does.
fn same_origin(origin: &str, host: &str) -> bool {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    rest.is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// A fetch (not a top-level navigation) that the browser marks as coming
/// from another site: another port of localhost counts as the same *site*,
/// so only `same-origin` and `none` pass.
fn cross_site_fetch(headers: &HeaderMap) -> bool {
    let value = |name: &'static str| {
        headers
            .get(HeaderName::from_static(name))
            .and_then(|v| v.to_str().ok())
    };
    let site = value("sec-fetch-site");
    let navigate = value("sec-fetch-mode") == Some("navigate");
    matches!(site, Some("cross-site" | "same-site")) && !navigate
}

/// `Content-Type: application/json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The hardening headers every answer carries.
fn harden(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(
        headers,
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(loopback: bool, allowed: &[&str]) -> HostRule {
        HostRule {
            port: 7070,
            loopback,
            allowed: allowed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn host_names() {
        let local = rule(true, &[]);
        for ok in [
            "localhost:7070",
            "LOCALHOST:7070",
            "localhost",
            "127.0.0.1:7070",
            "127.9.9.9:7070",
            "[::1]:7070",
            "localhost.:7070",
        ] {
            assert!(local.accepts(ok), "{ok}");
        }
        for bad in [
            "evil.example:7070",
            "localhost:7071",
            "127.0.0.1:80",
            "evil.localhost.example",
            "",
            "user@localhost:7070",
            "local host",
        ] {
            assert!(!local.accepts(bad), "{bad}");
        }
        let listed = rule(false, &["tasklog.internal"]);
        assert!(listed.accepts("tasklog.internal:7070"));
        assert!(listed.accepts("10.0.0.5:7070"));
        assert!(!listed.accepts("localhost:7070"), "not a loopback bind");
        assert!(!listed.accepts("evil.example:7070"));
        assert!(rule(false, &["*"]).accepts("anything.example:7070"));
    }

    #[test]
    fn origins() {
        assert!(same_origin("http://localhost:7070", "localhost:7070"));
        assert!(same_origin("https://LocalHost:7070", "localhost:7070"));
        assert!(!same_origin("http://localhost:7071", "localhost:7070"));
        assert!(!same_origin("null", "localhost:7070"));
        assert!(!same_origin("http://evil.example", "localhost:7070"));
        assert!(!same_origin("http://localhost:7070.evil", "localhost:7070"));
    }
}
