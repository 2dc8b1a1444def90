//! Zero set-up: where each supported agent keeps its sessions by default,
//! so `tasklog import` with no path (and `agents = "auto"` in the
//! configuration) finds them the way ccusage and agentsview do.
//!
//! Only folders whose files this crate reads are listed. OpenCode's
//! per-message storage and OpenHands' per-event session folders are read
//! as one document per session (assemble.rs); OpenCode's newer SQLite
//! database (`opencode.db`) is not read (docs/IMPORT.md, section 19).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::model::Format;

/// A standard folder of one agent's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFolder {
    /// The format of the sessions in it.
    pub format: Format,
    /// The folder.
    pub path: PathBuf,
}

/// The VS Code builds whose `globalStorage` Cline and Roo Code write to.
const VSCODE_BUILDS: [&str; 5] = ["Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf"];

/// The VS Code builds whose workspace storage GitHub Copilot Chat writes to.
const COPILOT_CHAT_BUILDS: [&str; 3] = ["Code", "Code - Insiders", "VSCodium"];

/// The extensions' storage ids: Cline, Roo Code.
const CLINE_EXTENSIONS: [&str; 2] = ["saoudrizwan.claude-dev", "rooveterinaryinc.roo-cline"];

/// Every standard folder, existing or not, for `home` and the environment
/// `var` reads (`CLAUDE_CONFIG_DIR`, comma-separated as ccusage takes it;
/// `CODEX_HOME`; `XDG_CONFIG_HOME` for VS Code's storage on Linux;
/// `XDG_DATA_HOME` for OpenCode's storage; `FILE_STORE_PATH`, OpenHands'
/// `file_store_path` setting; `PI_CODING_AGENT_DIR` for pi).
pub fn candidate_folders(home: &Path, var: impl Fn(&str) -> Option<OsString>) -> Vec<AgentFolder> {
    let var = |k: &str| var(k).filter(|v| !v.is_empty());
    let mut out = Vec::new();
    let mut add = |format, path: PathBuf| out.push(AgentFolder { format, path });
    match var("CLAUDE_CONFIG_DIR") {
        Some(dirs) => {
            for dir in dirs
                .to_string_lossy()
                .split(',')
                .filter(|d| !d.trim().is_empty())
            {
                add(
                    Format::ClaudeCode,
                    PathBuf::from(dir.trim()).join("projects"),
                );
            }
        }
        None => {
            add(Format::ClaudeCode, home.join(".claude/projects"));
            add(Format::ClaudeCode, home.join(".config/claude/projects"));
        }
    }
    let codex = var("CODEX_HOME").map_or_else(|| home.join(".codex"), PathBuf::from);
    add(Format::Codex, codex.join("sessions"));
    add(Format::Codex, codex.join("archived_sessions"));
    add(Format::GeminiCli, home.join(".gemini/tmp"));
    add(Format::CopilotCli, home.join(".copilot/session-state"));
    add(Format::Cline, home.join(".cline/data/tasks"));
    add(Format::IflowCli, home.join(".iflow/projects"));
    let pi = var("PI_CODING_AGENT_DIR").map_or_else(|| home.join(".pi/agent"), PathBuf::from);
    add(Format::Pi, pi.join("sessions"));
    let data = var("XDG_DATA_HOME").map_or_else(|| home.join(".local/share"), PathBuf::from);
    add(Format::OpenCode, data.join("opencode/storage/session"));
    let openhands = var("FILE_STORE_PATH").map_or_else(|| home.join(".openhands"), PathBuf::from);
    add(Format::OpenHands, openhands.join("sessions"));
    let config = var("XDG_CONFIG_HOME").map_or_else(|| home.join(".config"), PathBuf::from);
    let bases = [config, home.join("Library/Application Support")];
    for base in &bases {
        for build in VSCODE_BUILDS {
            for ext in CLINE_EXTENSIONS {
                let storage = base.join(build).join("User/globalStorage").join(ext);
                add(Format::Cline, storage.join("tasks"));
            }
        }
        // Copilot Chat: a `chatSessions` folder per workspace (listed, as
        // the workspace folders beside it hold large editing states).
        for build in COPILOT_CHAT_BUILDS {
            let user = base.join(build).join("User");
            add(
                Format::VscodeCopilotChat,
                user.join("globalStorage/emptyWindowChatSessions"),
            );
            let Ok(workspaces) = std::fs::read_dir(user.join("workspaceStorage")) else {
                continue;
            };
            let mut found: Vec<PathBuf> = workspaces
                .flatten()
                .map(|w| w.path().join("chatSessions"))
                .collect();
            found.sort();
            for dir in found {
                add(Format::VscodeCopilotChat, dir);
            }
        }
    }
    out
}

/// The standard folders that exist, for the current user (`HOME` and the
/// process environment), optionally of one format only.
pub fn agent_folders(format: Option<Format>) -> Vec<AgentFolder> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Vec::new();
    };
    let mut seen = std::collections::HashSet::new();
    candidate_folders(&home, |k| std::env::var_os(k))
        .into_iter()
        .filter(|f| format.is_none_or(|want| want == f.format))
        .filter(|f| f.path.is_dir())
        .filter(|f| seen.insert(std::fs::canonicalize(&f.path).unwrap_or_else(|_| f.path.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_moves_the_folders() {
        let home = Path::new("/h");
        let none = candidate_folders(home, |_| None);
        assert!(none.contains(&AgentFolder {
            format: Format::ClaudeCode,
            path: "/h/.claude/projects".into()
        }));
        assert!(none.contains(&AgentFolder {
            format: Format::Codex,
            path: "/h/.codex/sessions".into()
        }));
        let set = candidate_folders(home, |k| match k {
            "CLAUDE_CONFIG_DIR" => Some("/a,/b".into()),
            "CODEX_HOME" => Some("/c".into()),
            _ => None,
        });
        let claude: Vec<_> = set
            .iter()
            .filter(|f| f.format == Format::ClaudeCode)
            .map(|f| f.path.clone())
            .collect();
        assert_eq!(
            claude,
            vec![PathBuf::from("/a/projects"), "/b/projects".into()]
        );
        assert!(set.iter().any(|f| f.path == Path::new("/c/sessions")));
        assert!(!set.iter().any(|f| f.path.starts_with("/h/.codex")));
        for (var, value, format, path) in [
            (
                "XDG_DATA_HOME",
                "/d",
                Format::OpenCode,
                "/d/opencode/storage/session",
            ),
            ("FILE_STORE_PATH", "/o", Format::OpenHands, "/o/sessions"),
            ("PI_CODING_AGENT_DIR", "/p", Format::Pi, "/p/sessions"),
        ] {
            let default = none.iter().find(|f| f.format == format).expect("a folder");
            assert!(default.path.starts_with("/h"), "{default:?}");
            let moved = candidate_folders(home, |k| (k == var).then(|| value.into()));
            let f = moved.iter().find(|f| f.format == format).expect("a folder");
            assert_eq!(f.path, Path::new(path));
        }
    }
}
