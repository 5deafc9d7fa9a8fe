//! What the sync last found, shared with the API (`GET /api/v1/sync`).

use std::path::PathBuf;
use std::sync::RwLock;

use chrono::{DateTime, Utc};

use super::parse::FileError;

/// The shared, always-current report of the sync. Written by the sync task after every scan,
/// read by the API; cheap to read (a clone under a read lock).
#[derive(Debug)]
pub struct SyncStatus {
    report: RwLock<SyncReport>,
}

impl SyncStatus {
    /// A report for `dir` before its first scan.
    pub fn new(dir: PathBuf, prune: bool) -> SyncStatus {
        SyncStatus {
            report: RwLock::new(SyncReport {
                dir,
                prune,
                last_scan_at: None,
                scans: 0,
                error: None,
                files: Vec::new(),
                orphans: Vec::new(),
            }),
        }
    }

    /// A copy of the current report.
    pub fn snapshot(&self) -> SyncReport {
        self.report
            .read()
            .expect("the sync report lock is never held across a panic")
            .clone()
    }

    pub(super) fn update(&self, change: impl FnOnce(&mut SyncReport)) {
        change(
            &mut self
                .report
                .write()
                .expect("the sync report lock is never held across a panic"),
        );
    }
}

/// The outcome of the last scan of the specs folder.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncReport {
    /// The watched folder.
    pub dir: PathBuf,
    /// Whether tenants whose file stopped defining them are deleted.
    pub prune: bool,
    /// When the last scan finished; `None` before the first.
    pub last_scan_at: Option<DateTime<Utc>>,
    /// Scans finished since start (a scan that finds nothing changed counts too).
    pub scans: u64,
    /// Why the last scan could not look at the folder at all (then nothing was changed).
    pub error: Option<String>,
    /// One entry per spec file found, by path.
    pub files: Vec<FileReport>,
    /// Tenants whose file no longer defines them, kept because prune is off.
    pub orphans: Vec<OrphanReport>,
}

/// How one file fared in the last scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// Relative to the folder.
    pub path: String,
    /// Hex SHA-256 of the content that was looked at.
    pub sha256: String,
    pub state: FileState,
    /// The tenants the file defines (for a file that cannot be read as tenants: the ones it
    /// owns, whose last good version stays in force).
    pub tenants: Vec<String>,
    /// Why the file is Invalid or in Error.
    pub error: Option<FileError>,
}

/// The status of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Every tenant in it is stored as written.
    Applied,
    /// Not valid YAML or not valid tenants; nothing was changed.
    Invalid,
    /// Valid, but not (entirely) applied: a conflict with another file or writer, a store
    /// refusal, or the file could not be read. Retried on every scan.
    Error,
}

impl FileState {
    pub fn as_str(self) -> &'static str {
        match self {
            FileState::Applied => "Applied",
            FileState::Invalid => "Invalid",
            FileState::Error => "Error",
        }
    }
}

/// A tenant left in place although its file no longer defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanReport {
    pub name: String,
    /// The file it came from.
    pub file: String,
}
