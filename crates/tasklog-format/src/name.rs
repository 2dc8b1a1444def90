//! Task ids, stream names and document names.
//!
//! Each becomes one path component under the log root, so the rules exist to
//! make a hostile name unable to escape the root, hide from the indexer, or
//! fail later at `open(2)` with an obscure error.

use std::fmt;

/// Longest file name Linux filesystems accept (`NAME_MAX`), in bytes.
pub const NAME_MAX: usize = 255;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name has no characters.
    #[error("{what} is empty")]
    Empty {
        /// Which kind of name.
        what: &'static str,
    },
    /// `.` and `..` name the current and parent folder.
    #[error("{what} {name:?} is a relative path component")]
    Dots {
        /// Which kind of name.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// A leading dot hides the file and marks temp files.
    #[error("{what} {name:?} starts with '.', which is reserved for temporary files")]
    LeadingDot {
        /// Which kind of name.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// `/`, `\` or NUL would make the name a path.
    #[error("{what} {name:?} contains a path separator")]
    Separator {
        /// Which kind of name.
        what: &'static str,
        /// The name as given.
        name: String,
    },
    /// Control characters break terminals, grep output and shell scripts.
    #[error("{what} {name:?} contains a control character at byte {at}")]
    Control {
        /// Which kind of name.
        what: &'static str,
        /// The name as given.
        name: String,
        /// Byte offset of the first control character.
        at: usize,
    },
    /// The file name built from it would exceed `NAME_MAX`.
    #[error("{what} is {len} bytes long; the limit is {max}")]
    TooLong {
        /// Which kind of name.
        what: &'static str,
        /// Length in bytes.
        len: usize,
        /// The limit for this kind of name.
        max: usize,
    },
}

fn check(what: &'static str, name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name == "." || name == ".." {
        return Err(NameError::Dots {
            what,
            name: name.to_owned(),
        });
    }
    if name.contains(['/', '\\', '\0']) {
        return Err(NameError::Separator {
            what,
            name: name.to_owned(),
        });
    }
    if let Some((at, _)) = name.char_indices().find(|(_, c)| c.is_control()) {
        return Err(NameError::Control {
            what,
            name: name.to_owned(),
            at,
        });
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot {
            what,
            name: name.to_owned(),
        });
    }
    if name.len() > max {
        return Err(NameError::TooLong {
            what,
            len: name.len(),
            max,
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal, $suffix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// Longest accepted name in bytes, so that the file name fits `NAME_MAX`.
            pub const MAX_LEN: usize = NAME_MAX - $suffix.len();

            /// Validates `name`.
            pub fn new(name: &str) -> Result<Self, NameError> {
                check($what, name, Self::MAX_LEN)?;
                Ok(Self(name.to_owned()))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The file or folder name this name is stored under.
            pub fn file_name(&self) -> String {
                format!("{}{}", self.0, $suffix)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A task id: the name of one folder directly under the log root.
    TaskId,
    "task id",
    ""
);
name_type!(
    /// A stream name: `<task>/<stream>.jsonl`.
    StreamName,
    "stream name",
    ".jsonl"
);
name_type!(
    /// A document name: `<task>/<doc>.json`.
    DocName,
    "document name",
    ".json"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn check_task(input: &str, expect: Result<(), &str>) {
        let got = TaskId::new(input).map(|_| ()).map_err(|e| e.to_string());
        match (got, expect) {
            (Ok(()), Ok(())) => {}
            (Err(got), Err(want)) => assert!(got.contains(want), "{input:?}: {got}"),
            (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn task_id_rules() {
        check_task("gh-450", Ok(()));
        check_task("task_2026.11.22", Ok(()));
        check_task("日本語-タスク", Ok(()));
        check_task("with space", Ok(()));
        check_task("", Err("is empty"));
        check_task(".", Err("relative path component"));
        check_task("..", Err("relative path component"));
        check_task(".hidden", Err("starts with '.'"));
        check_task("a/b", Err("path separator"));
        check_task("/etc", Err("path separator"));
        check_task("a\\b", Err("path separator"));
        check_task("nul\0byte", Err("path separator"));
        check_task("tab\there", Err("control character at byte 3"));
        check_task("new\nline", Err("control character"));
        check_task("esc\u{1b}[31m", Err("control character"));
        check_task(&"x".repeat(255), Ok(()));
        check_task(&"x".repeat(256), Err("256 bytes long; the limit is 255"));
    }

    #[test]
    fn suffix_counts_against_the_limit() {
        assert!(StreamName::new(&"s".repeat(249)).is_ok());
        assert!(StreamName::new(&"s".repeat(250)).is_err());
        assert!(DocName::new(&"d".repeat(250)).is_ok());
        assert!(DocName::new(&"d".repeat(251)).is_err());
        assert_eq!(DocName::new("task").unwrap().file_name(), "task.json");
    }
}
