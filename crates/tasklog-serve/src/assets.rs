//! The dashboard: a page, its scripts and a style sheet, all compiled into
//! the binary so it works offline. No inline script or style anywhere, so a
//! `default-src 'self'` Content Security Policy holds.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// `(file name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/app.js"),
    ),
    (
        "md.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/md.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/pages.js"),
    ),
    (
        "task.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/task.js"),
    ),
    (
        "cost.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/cost.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../assets/app.css"),
    ),
];

const INDEX: &str = include_str!("../assets/index.html");

/// `GET /`: the single page; the script routes by the address's fragment.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /assets/{file}`.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, kind, bytes) = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .ok_or_else(|| ApiError::not_found(format!("no asset {name:?}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        *bytes,
    )
        .into_response())
}
