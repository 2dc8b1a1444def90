//! The progress bar of long commands (`index`, `import`): on stderr, and
//! only when a person is watching (stderr and stdout are terminals), so
//! pipes and logs get no control characters.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress over bytes (a backfill).
pub const BYTES: &str =
    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} (ETA {eta})";
/// Progress over items (files imported).
pub const ITEMS: &str = "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}";

/// A bar of `len` units drawn with `template`, or `None` when no person
/// is watching.
pub fn bar(len: u64, template: &str) -> Option<ProgressBar> {
    if !(std::io::stdout().is_terminal() && std::io::stderr().is_terminal()) {
        return None;
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}
