//! File-system notifications for the specs folder, debounced, as wake-ups for a scan.
//!
//! The notifications carry no content the sync acts on: any relevant one asks for a full scan
//! (level-triggered, like the reconciler), so a lost, merged or reordered notification costs
//! latency, never correctness, and the periodic rescan covers what inotify cannot see.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

use super::files::is_spec_file_name;

/// A running watch of one folder; dropping it stops the watch.
pub struct FolderWatch {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
    /// The folder's identity when the watch began, to notice a folder replaced under us.
    identity: Option<(u64, u64)>,
}

impl FolderWatch {
    /// Watches `dir` (not its subfolders). After a burst of changes settles for `debounce`,
    /// one wake-up is sent to `wake` (a full channel means a scan is already due).
    pub fn start(
        dir: &Path,
        debounce: Duration,
        wake: mpsc::Sender<()>,
    ) -> notify::Result<FolderWatch> {
        let watched: PathBuf = dir.to_owned();
        let mut debouncer = new_debouncer(debounce, None, move |result: DebounceEventResult| {
            let relevant = match &result {
                Ok(events) => events.iter().any(|e| {
                    e.need_rescan()
                        || e.paths.is_empty()
                        || e.paths.iter().any(|p| is_relevant(&watched, p))
                }),
                Err(errors) => {
                    for error in errors {
                        tracing::warn!(error = %error, "watching the specs folder failed; the periodic rescan still runs");
                    }
                    true
                }
            };
            if relevant {
                let _ = wake.try_send(());
            }
        })?;
        debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(FolderWatch {
            _debouncer: debouncer,
            identity: identity(dir),
        })
    }

    /// Whether `dir` is still the folder this watch was started on (not removed, not replaced).
    pub fn is_current(&self, dir: &Path) -> bool {
        self.identity.is_some() && identity(dir) == self.identity
    }
}

/// A path whose change may change the scan: a spec file in the folder, or the folder itself.
fn is_relevant(dir: &Path, path: &Path) -> bool {
    path == dir
        || (path.parent() == Some(dir)
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_spec_file_name))
}

/// Device and inode of `dir`, following symlinks.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_spec_files_directly_in_the_folder_and_the_folder_itself_wake_a_scan() {
        let dir = Path::new("/srv/specs");
        assert!(is_relevant(dir, Path::new("/srv/specs")));
        assert!(is_relevant(dir, Path::new("/srv/specs/acme.yaml")));
        assert!(!is_relevant(dir, Path::new("/srv/specs/.acme.yaml.swp")));
        assert!(!is_relevant(dir, Path::new("/srv/specs/acme.yaml~")));
        assert!(!is_relevant(dir, Path::new("/srv/specs/sub/acme.yaml")));
    }
}
