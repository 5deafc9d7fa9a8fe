//! The watched specs folder: tenants declared in YAML files, applied to the store, and pruned
//! only when they came from a file.
//!
//! Layout:
//! - [`files`]: which names count and reading them (I/O). [`parse`]: bytes to validated
//!   tenants with error locations (pure). [`plan`]: a folder snapshot against the store to
//!   writes, prunes and verdicts (pure). [`status`]: the report behind `GET /api/v1/sync`.
//!   [`watch`]: debounced notifications that wake a scan.
//! - [`Syncer`] ties them: [`Syncer::scan`] is one level-triggered pass, [`Syncer::run`] scans
//!   on start, on every (debounced) change in the folder and every `rescan_period`.
//!
//! # Guarantees
//! - Each file is validated whole before anything of it is written; an invalid file changes
//!   nothing, and the tenants it owns keep their last good version.
//! - Tenants are written with `source: file:<path>` and never forced over another writer: a
//!   tenant from the API, the web or the CLI is never written, pruned or given events by the
//!   sync; a file that defines one is reported in error.
//! - A tenant is deleted only when `prune` is on and the file it came from is gone or no
//!   longer defines it, in two reads of the folder a debounce apart (a file caught between
//!   an editor's truncate and write is not taken for empty); a folder that cannot be listed
//!   deletes nothing.
//! - A scan of a folder that matches the store writes nothing: no tenant row and no event.
//!   A problem is logged and recorded as an event once, when it appears or changes, not on
//!   every rescan.
//! - A store write that fails (a taken subdomain, a tenant still being torn down) is reported
//!   and retried on the next scan.
//!
//! - A prune is a conditional write (same uid, same file source), so a tenant an admin took
//!   over between the scan and the prune is never deleted.

pub mod files;
pub mod parse;
pub mod plan;
pub mod status;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use self::files::RawFile;
use self::parse::FileError;
use self::plan::{Content, FilePlan, Plan, ScannedFile, Stray, Verdict, WriteKind, file_of};
use self::status::{FileReport, FileState, OrphanReport, SyncReport};
use self::watch::FolderWatch;
use crate::resource::Tenant;
use crate::store::{self, ApplyOptions, ApplyOutcome, EventOutcome, Store};

pub use self::plan::{SOURCE_PREFIX, source_of};
pub use self::status::SyncStatus;

/// The `action` of the events the sync records.
pub const EVENT_ACTION: &str = "sync";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the specs folder {dir}: {source}")]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the stored tenants: {0}")]
    ListTenants(#[source] store::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the sync runs.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The folder of `*.yaml`/`*.yml` files (not its subfolders).
    pub dir: PathBuf,
    /// Delete tenants whose file is gone or no longer defines them.
    pub prune: bool,
    /// How long the folder must be quiet after a change before it is scanned.
    pub debounce: Duration,
    /// A full scan this often, whatever the notifications said.
    pub rescan_period: Duration,
    /// Bound for `spec.resources.cpus`, as the API uses.
    pub host_cpus: f64,
}

impl SyncConfig {
    /// The defaults for `dir`: a 300 ms debounce and this machine's CPU count.
    pub fn new(dir: PathBuf, prune: bool, rescan_period: Duration) -> SyncConfig {
        SyncConfig {
            dir,
            prune,
            debounce: Duration::from_millis(300),
            rescan_period,
            host_cpus: std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64),
        }
    }
}

/// What one scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanSummary {
    /// Tenants created or changed.
    pub applied: usize,
    /// Tenants whose deletion was requested (prune).
    pub pruned: usize,
    /// Events recorded.
    pub events: usize,
    /// Files not (entirely) applied: Invalid or Error.
    pub problems: usize,
}

impl ScanSummary {
    /// Whether the scan wrote anything to the store.
    pub fn wrote(&self) -> bool {
        self.applied + self.pruned + self.events > 0
    }
}

/// The sync of one folder with the store.
///
/// Holds, between scans, only what keeps a converged rescan quiet: the parse of each file by
/// content hash, and the last report of each file. Everything it acts on is read again on
/// every scan (the folder and the store), so a restart loses nothing but the memory of which
/// problems were already reported.
pub struct Syncer {
    store: Store,
    config: SyncConfig,
    status: Arc<SyncStatus>,
    /// Per file: the hash of the content last parsed, and its parse.
    parsed: BTreeMap<String, (String, Content)>,
    /// Per file: how it fared in the previous scan.
    reported: BTreeMap<String, FileReport>,
    /// Orphans already reported.
    orphans_reported: BTreeSet<String>,
    /// The folder-level problem of the previous scan, if any.
    scan_error: Option<String>,
    /// Whether a scan has finished (the first one does not report pre-existing orphans as news).
    scanned: bool,
}

impl Syncer {
    pub fn new(store: Store, config: SyncConfig) -> Syncer {
        let status = Arc::new(SyncStatus::new(config.dir.clone(), config.prune));
        Syncer {
            store,
            config,
            status,
            parsed: BTreeMap::new(),
            reported: BTreeMap::new(),
            orphans_reported: BTreeSet::new(),
            scan_error: None,
            scanned: false,
        }
    }

    /// The report, shared; it is updated after every scan.
    pub fn status(&self) -> Arc<SyncStatus> {
        self.status.clone()
    }

    /// Scans at once, then on every debounced change in the folder and every
    /// `rescan_period`, until `shutdown` completes. A scan in progress finishes first.
    ///
    /// A folder that is missing or replaced (unmounted, re-created) is watched again when the
    /// next periodic scan finds it.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tracing::info!(dir = %self.config.dir.display(), prune = self.config.prune, "watching the specs folder");
        let (wake_tx, mut wake_rx) = mpsc::channel::<()>(1);
        let mut watch: Option<FolderWatch> = None;
        let mut tick = tokio::time::interval(self.config.rescan_period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = tick.tick() => {
                    if !watch.as_ref().is_some_and(|w| w.is_current(&self.config.dir)) {
                        // Dropped first, so the old watch's thread is not left behind.
                        watch = None;
                        match FolderWatch::start(&self.config.dir, self.config.debounce, wake_tx.clone()) {
                            Ok(started) => watch = Some(started),
                            Err(error) => tracing::debug!(error = %error, dir = %self.config.dir.display(), "cannot watch the specs folder yet; rescanning periodically"),
                        }
                    }
                }
                Some(()) = wake_rx.recv() => {}
            }
            // A failed scan was logged and reported in the status; the next one retries.
            let _ = self.scan().await;
        }
        tracing::info!("stopped watching the specs folder");
    }

    /// One pass: read the folder and the store, plan, write what differs, report.
    ///
    /// # Errors
    /// When the folder cannot be listed or the store cannot be read; then nothing was
    /// changed, and the status says why.
    pub async fn scan(&mut self) -> Result<ScanSummary> {
        let scanned = self.read_folder().await?;
        let stored = match self.store.list().await {
            Ok(stored) => stored,
            Err(e) => return Err(self.fail(Error::ListTenants(e))),
        };
        let mut plan = plan::plan(&scanned, &stored, self.config.prune);
        if !plan.prunes.is_empty() {
            // A delete cannot be undone, and a file caught between an editor's truncate and
            // write looks like a file that defines nothing. Look again once the folder had
            // time to settle, and prune only what both looks agree on.
            tokio::time::sleep(self.config.debounce).await;
            let again = plan::plan(&self.read_folder().await?, &stored, true);
            plan.prunes.retain(|stray| again.prunes.contains(stray));
        }
        let summary = self.execute(plan, &stored).await;
        if self.scan_error.take().is_some() {
            tracing::info!(dir = %self.config.dir.display(), "the specs folder can be read again");
        }
        self.scanned = true;
        Ok(summary)
    }

    /// Lists, reads and parses the folder.
    async fn read_folder(&mut self) -> Result<Vec<ScannedFile>> {
        let dir = self.config.dir.clone();
        let read = tokio::task::spawn_blocking(move || files::read_dir(&dir))
            .await
            .expect("reading the specs folder does not panic");
        match read {
            Ok(raw) => Ok(self.parse(raw)),
            Err(source) => Err(self.fail(Error::ReadDir {
                dir: self.config.dir.clone(),
                source,
            })),
        }
    }

    /// Records a scan that could not look at the folder or the store: nothing was changed.
    fn fail(&mut self, error: Error) -> Error {
        let message = error.to_string();
        if self.scan_error.as_deref() != Some(message.as_str()) {
            tracing::error!(error = %message, "the specs sync cannot scan; nothing was changed");
        }
        self.scan_error = Some(message.clone());
        self.status.update(|report| {
            report.error = Some(message);
            report.last_scan_at = Some(chrono::Utc::now());
            report.scans += 1;
        });
        error
    }

    /// Parses each file, reusing the previous parse when its content hash is unchanged.
    fn parse(&mut self, raw: Vec<RawFile>) -> Vec<ScannedFile> {
        let present: BTreeSet<&str> = raw.iter().map(|f| f.path.as_str()).collect();
        self.parsed
            .retain(|path, _| present.contains(path.as_str()));
        raw.into_iter()
            .map(|file| {
                let sha256 = file.sha256();
                let content = match (&file.bytes, self.parsed.get(&file.path)) {
                    (Err(message), _) => Content::Unreadable(message.clone()),
                    (Ok(_), Some((hash, content))) if *hash == sha256 => content.clone(),
                    (Ok(bytes), _) => {
                        let content = match parse::parse_file(bytes, self.config.host_cpus) {
                            Ok(tenants) => Content::Valid(tenants),
                            Err(error) => Content::Invalid(error),
                        };
                        self.parsed
                            .insert(file.path.clone(), (sha256.clone(), content.clone()));
                        content
                    }
                };
                ScannedFile {
                    path: file.path,
                    sha256,
                    content,
                }
            })
            .collect()
    }

    /// Carries out the plan and publishes the report.
    async fn execute(&mut self, plan: Plan, stored: &[Tenant]) -> ScanSummary {
        let mut summary = ScanSummary::default();
        let mut reports = Vec::with_capacity(plan.files.len());
        for file in plan.files {
            let report = self.execute_file(file, stored, &mut summary).await;
            reports.push(report);
        }
        for stray in &plan.prunes {
            self.prune(stray, &mut summary).await;
        }
        self.report_orphans(&plan.orphans, &mut summary).await;
        let present: BTreeSet<&str> = reports.iter().map(|r| r.path.as_str()).collect();
        for gone in self
            .reported
            .keys()
            .filter(|p| !present.contains(p.as_str()))
        {
            tracing::info!(file = %self.shown(gone), "specs file removed");
        }
        self.reported = reports
            .iter()
            .map(|r| (r.path.clone(), r.clone()))
            .collect();
        let orphans = plan
            .orphans
            .iter()
            .map(|o| OrphanReport {
                name: o.name.clone(),
                file: o.file.clone(),
            })
            .collect();
        self.status.update(|report| {
            *report = SyncReport {
                dir: report.dir.clone(),
                prune: report.prune,
                last_scan_at: Some(chrono::Utc::now()),
                scans: report.scans + 1,
                error: None,
                files: reports,
                orphans,
            };
        });
        summary
    }

    /// Applies one file's writes (or not), and reports a problem once.
    async fn execute_file(
        &mut self,
        file: FilePlan,
        stored: &[Tenant],
        summary: &mut ScanSummary,
    ) -> FileReport {
        let path = file.path;
        let source = source_of(&path);
        let mut wrote_events = false;
        let (state, error, reason) = match file.verdict {
            Verdict::Invalid(error) => (FileState::Invalid, Some(error), "InvalidSpecsFile"),
            Verdict::Conflict(error) => (FileState::Error, Some(error), "SpecsFileConflict"),
            Verdict::Unreadable(message) => (
                FileState::Error,
                Some(FileError::new(format!("cannot read the file: {message}"))),
                "UnreadableSpecsFile",
            ),
            Verdict::Apply(writes) => {
                let mut failures: Vec<FileError> = Vec::new();
                for write in writes {
                    let name = write.tenant.metadata.name.clone();
                    let options = ApplyOptions {
                        source: Some(source.clone()),
                        // Only a tenant another file gave up is taken over; never the API's.
                        force: matches!(write.kind, WriteKind::TakeOver { .. }),
                    };
                    match self.store.apply_with(&write.tenant, &options).await {
                        Ok((ApplyOutcome::Unchanged, _)) => {}
                        Ok((outcome, applied)) => {
                            summary.applied += 1;
                            let message = match &write.kind {
                                WriteKind::TakeOver { from } => format!(
                                    "{} from specs file {path} (moved from {from})",
                                    outcome.as_str()
                                ),
                                _ => format!("{} from specs file {path}", outcome.as_str()),
                            };
                            tracing::info!(tenant = %name, file = %self.shown(&path), "{message}");
                            let uid = applied.metadata.uid.unwrap_or_default();
                            wrote_events |= self
                                .event(
                                    &name,
                                    &uid,
                                    EventOutcome::Normal,
                                    "AppliedFromFile",
                                    &message,
                                    summary,
                                )
                                .await;
                        }
                        Err(e) => failures.push(
                            FileError::new(format!("tenant {name}: {e}"))
                                .at(Some(write.line), None),
                        ),
                    }
                }
                match failures.len() {
                    0 => (FileState::Applied, None, ""),
                    1 => (FileState::Error, failures.pop(), "SyncFailed"),
                    n => {
                        let first = &failures[0];
                        let all: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
                        let error =
                            FileError::new(format!("{n} tenants failed: {}", all.join("; ")))
                                .at(first.line, None);
                        (FileState::Error, Some(error), "SyncFailed")
                    }
                }
            }
        };
        let report = FileReport {
            path: path.clone(),
            sha256: file.sha256,
            state,
            tenants: file.tenants,
            error,
        };
        let previous = self.reported.get(&path);
        let changed = previous.is_none_or(|p| p.state != report.state || p.error != report.error);
        if changed {
            if let Some(error) = &report.error {
                summary.problems += 1;
                let located = error.located(&path);
                tracing::warn!(file = %self.shown(&path), state = report.state.as_str(), "{}", error.located(&self.shown(&path)));
                let message = match report.state {
                    FileState::Invalid => format!(
                        "{located} (nothing was changed; the last good version stays in force)"
                    ),
                    _ => located,
                };
                for (name, uid) in owned_or_file(stored, &path) {
                    self.event(
                        &name,
                        &uid,
                        EventOutcome::Warning,
                        reason,
                        &message,
                        summary,
                    )
                    .await;
                }
            } else if previous.is_some() && !wrote_events {
                tracing::info!(file = %self.shown(&path), "specs file applies again");
                let message = format!("specs file {path} applies again; nothing needed changing");
                for (name, uid) in owned_or_file(stored, &path) {
                    self.event(
                        &name,
                        &uid,
                        EventOutcome::Normal,
                        "SpecsFileApplied",
                        &message,
                        summary,
                    )
                    .await;
                }
            }
        } else if report.error.is_some() {
            summary.problems += 1;
        }
        report
    }

    /// Requests deletion of a tenant whose file no longer defines it, if it is still the same
    /// tenant from the same file.
    async fn prune(&mut self, stray: &Stray, summary: &mut ScanSummary) {
        let current = match self.store.get(&stray.name).await {
            Ok(current) => current,
            Err(e) => {
                tracing::warn!(tenant = %stray.name, error = %e, "cannot prune; retrying on the next scan");
                return;
            }
        };
        let unchanged = current.as_ref().is_some_and(|t| {
            t.metadata.uid.as_deref() == Some(stray.uid.as_str())
                && file_of(t) == Some(stray.file.as_str())
                && t.metadata.deletion_timestamp.is_none()
        });
        if !unchanged {
            return;
        }
        let source = source_of(&stray.file);
        match self
            .store
            .request_delete_if_owned(&stray.name, &stray.uid, &source)
            .await
        {
            // Taken over (or deleted) between the read above and now: not ours to prune.
            Ok(false) => {}
            Ok(true) => {
                summary.pruned += 1;
                let message = format!(
                    "deletion requested: specs file {} no longer defines this tenant (prune is on)",
                    stray.file
                );
                tracing::info!(tenant = %stray.name, file = %self.shown(&stray.file), "pruned: its file no longer defines it");
                self.event(
                    &stray.name,
                    &stray.uid,
                    EventOutcome::Normal,
                    "Pruned",
                    &message,
                    summary,
                )
                .await;
            }
            Err(e) => {
                tracing::warn!(tenant = %stray.name, error = %e, "cannot prune; retrying on the next scan");
            }
        }
    }

    /// Tells, once, about tenants kept although their file no longer defines them.
    async fn report_orphans(&mut self, orphans: &[Stray], summary: &mut ScanSummary) {
        let current: BTreeSet<String> = orphans.iter().map(|o| o.name.clone()).collect();
        for orphan in orphans {
            if self.orphans_reported.contains(&orphan.name) {
                continue;
            }
            tracing::warn!(tenant = %orphan.name, file = %self.shown(&orphan.file), "specs file no longer defines this tenant; kept because prune is off");
            // At startup nothing changed: the event was recorded when it happened.
            if self.scanned {
                let message = format!(
                    "specs file {} no longer defines this tenant; it is kept because prune is off \
                     (edits through the API need force while it is marked as from that file)",
                    orphan.file
                );
                self.event(
                    &orphan.name,
                    &orphan.uid,
                    EventOutcome::Warning,
                    "FileRemoved",
                    &message,
                    summary,
                )
                .await;
            }
        }
        self.orphans_reported = current;
    }

    /// Records an event; a failure is logged, not fatal. Returns whether it was recorded.
    async fn event(
        &self,
        name: &str,
        uid: &str,
        outcome: EventOutcome,
        reason: &str,
        message: &str,
        summary: &mut ScanSummary,
    ) -> bool {
        match self
            .store
            .record_event(name, uid, EVENT_ACTION, outcome, reason, message)
            .await
        {
            Ok(()) => {
                summary.events += 1;
                true
            }
            Err(e) => {
                tracing::warn!(tenant = %name, error = %e, "cannot record a sync event");
                false
            }
        }
    }

    /// A file as shown in the log: under the folder, so an editor can open `path:line:col`.
    fn shown(&self, path: &str) -> String {
        self.config.dir.join(path).display().to_string()
    }
}

/// Where a file's problem is recorded: the tenants it owns in the store, or, when it owns
/// none, the synthetic name `file:<path>` (never a tenant from another writer).
fn owned_or_file(stored: &[Tenant], path: &str) -> Vec<(String, String)> {
    let owned: Vec<(String, String)> = stored
        .iter()
        .filter(|t| file_of(t) == Some(path))
        .map(|t| {
            (
                t.metadata.name.clone(),
                t.metadata.uid.clone().unwrap_or_default(),
            )
        })
        .collect();
    if owned.is_empty() {
        vec![(source_of(path), String::new())]
    } else {
        owned
    }
}
