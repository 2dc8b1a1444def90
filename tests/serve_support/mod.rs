//! What the `tasklog serve` scenarios share: a server on a free port, an
//! HTTP client, a WebDriver client and the browser scenario.

pub mod browser;
pub mod fixture;
pub mod http;
pub mod webdriver;

/// The shared helpers, as `super::support` for the modules above.
pub(crate) use crate::support;
