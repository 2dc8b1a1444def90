//! One module per subcommand.

pub mod append;
pub mod archive;
pub mod compress;
pub mod cost;
pub mod export;
pub mod import;
pub mod index;
pub mod prune;
pub mod put;
pub mod query;
pub mod retention;
pub mod search;
pub mod serve;
pub mod show;
pub mod status;
pub mod tail;
pub mod tasks;
pub mod unarchive;
pub mod verify;
pub mod watch;
