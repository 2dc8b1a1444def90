//! The atomic document protocol: temp file in the same folder, write,
//! fsync, rename over the target, fsync the folder.
//!
//! A reader (jq, the indexer) sees the old content or the new content, never
//! a mix, and a crash leaves at most a dot-prefixed temp file behind, which
//! every reader ignores.

use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tasklog_format::TEMP_PREFIX;

use crate::error::{Error, Result};

pub(crate) fn replace(dir: &Path, file_name: &str, bytes: &[u8], sync: bool) -> Result<()> {
    let target = dir.join(file_name);
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "creating temp file", e))?;
    tmp.write_all(bytes)
        .map_err(|e| Error::io(tmp.path(), "writing document", e))?;
    if sync {
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(tmp.path(), "syncing document", e))?;
    }
    tmp.persist(&target)
        .map_err(|e| Error::io(&target, "renaming document into place", e.error))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes a rename or a new entry in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, "syncing folder", e))
}
