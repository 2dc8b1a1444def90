//! One module per subcommand.

pub mod append;
pub mod index;
pub mod put;
pub mod query;
pub mod status;
pub mod verify;
pub mod watch;
