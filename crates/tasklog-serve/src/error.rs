//! Errors: [`Error`] for starting and running the server, [`ApiError`] for
//! the JSON answer of one failed request.

use std::net::SocketAddr;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A non-loopback address without a token.
    #[error(
        "{addr} is not a loopback address: serving it needs a token (--token or TASKLOG_TOKEN)"
    )]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A token too short to resist guessing, or with spaces or control characters.
    #[error(
        "the token has {chars} characters; it needs at least {min}, without spaces \
         (for example: openssl rand -hex 16)"
    )]
    WeakToken {
        /// Characters in the token given.
        chars: usize,
        /// The minimum.
        min: usize,
    },
    /// The TLS certificate or key cannot be served (missing, not PEM,
    /// encrypted, or not a pair); `path` is the file at fault.
    #[error("{}: {reason}", path.display())]
    Tls {
        /// The certificate or key file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The accept loop failed.
    #[error("serving HTTP")]
    Serve(#[source] std::io::Error),
    /// The in-process indexer could not start.
    #[error("starting the in-process indexer")]
    Index(#[source] tasklog_index::Error),
    /// The in-process indexer's thread could not start or died.
    #[error("the in-process indexer thread: {0}")]
    Sidecar(String),
}

/// A request that failed: its status code and a message, answered as
/// `{"error": message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// 400, 401, 404, 500 or 503.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
}

impl ApiError {
    /// 400: an invalid name or parameter.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404: an unknown task, document or stream.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 403: a request from a foreign host name or origin.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// 401: a missing or wrong token.
    pub fn unauthorized() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "missing or wrong token (Authorization: Bearer <token>)".into(),
        }
    }

    /// 500: the server's own failure.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::internal(format!("database: {e}"))
    }
}

impl From<tasklog_index::Error> for ApiError {
    fn from(e: tasklog_index::Error) -> ApiError {
        match e {
            tasklog_index::Error::NoDatabase { .. } => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: format!("{e}: the index does not exist yet (run tasklog index)"),
            },
            // A store that may answer again (a PostgreSQL server restarting
            // or out of connections): ask again later.
            tasklog_index::Error::Store {
                transient: true, ..
            } => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: tasklog_index::format_chain(&e),
            },
            e => ApiError::internal(tasklog_index::format_chain(&e)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
