//! What to do for one snapshot of the specs directory, given what the store holds. Pure.
//!
//! # Guarantees
//! - Only tenants whose stored `source` is `file:<path>` are ever written or deleted; a tenant
//!   from any other writer is left alone, and a file that defines one is refused whole.
//! - A file that is invalid, unreadable or in conflict changes nothing: the tenants it owns keep
//!   their stored (last good) version and are not pruned.
//! - A tenant defined by two files belongs to the one that owns it in the store (or, for a new
//!   tenant, the first by path); the other file is refused whole.
//! - A tenant whose owning file stopped defining it is deleted only with `prune`; without, it
//!   is reported as an orphan. A tenant moved to another file is taken over by that file, not
//!   deleted and created again.
//! - A converged snapshot (every file's tenants stored as written, nothing to prune) plans no
//!   write at all.

use std::collections::{BTreeMap, BTreeSet};

use super::parse::{FileError, FileTenant};
use crate::resource::Tenant;

/// The prefix of a stored `metadata.source` that marks a tenant applied from a specs file.
pub const SOURCE_PREFIX: &str = "file:";

/// The `metadata.source` of tenants applied from the file at `path` (relative to the folder).
pub fn source_of(path: &str) -> String {
    format!("{SOURCE_PREFIX}{path}")
}

/// One file of the snapshot, read and parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannedFile {
    /// Relative to the specs folder, `/`-separated.
    pub path: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub content: Content,
}

/// What a file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Every document is a valid tenant.
    Valid(Vec<FileTenant>),
    /// The file is not a valid set of tenants.
    Invalid(FileError),
    /// The file is there but could not be read (permissions, I/O).
    Unreadable(String),
}

/// What to do for the whole folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// One entry per scanned file, in path order.
    pub files: Vec<FilePlan>,
    /// Tenants to delete: their file no longer defines them and `prune` is on.
    pub prunes: Vec<Stray>,
    /// Tenants whose file no longer defines them, kept because `prune` is off.
    pub orphans: Vec<Stray>,
}

impl Plan {
    /// Whether carrying out the plan writes nothing.
    pub fn is_converged(&self) -> bool {
        self.prunes.is_empty()
            && self.files.iter().all(|f| match &f.verdict {
                Verdict::Apply(writes) => writes.is_empty(),
                _ => true,
            })
    }
}

/// What to do for one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FilePlan {
    pub path: String,
    pub sha256: String,
    /// The tenants the file defines; for a file that could not be read as tenants, the ones it
    /// owns in the store (its last good version, still in force).
    pub tenants: Vec<String>,
    pub verdict: Verdict,
}

/// The fate of one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The file is valid and owns all its tenants: make these writes (none when converged).
    Apply(Vec<Write>),
    /// Not valid: change nothing.
    Invalid(FileError),
    /// Valid, but a tenant in it belongs to another file or to another writer: change nothing.
    Conflict(FileError),
    /// Could not be read: change nothing.
    Unreadable(String),
}

/// One tenant to write from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub tenant: Tenant,
    /// The 1-based line of the tenant's document, for error reports.
    pub line: usize,
    pub kind: WriteKind,
}

/// How a write relates to what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteKind {
    /// Not stored yet.
    Create,
    /// Stored from this file, with another spec, labels or owner.
    Update,
    /// Stored from another file, which no longer defines it: this file takes it over (a forced
    /// write that moves `source`). The old file's relative path.
    TakeOver { from: String },
}

/// A stored tenant whose file no longer defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub name: String,
    /// The file it came from (relative path), which is gone or no longer defines it.
    pub file: String,
    /// Its uid, so a delete can be checked against the same tenant.
    pub uid: String,
}

/// The file a stored tenant came from, if it came from one.
pub fn file_of(tenant: &Tenant) -> Option<&str> {
    tenant
        .metadata
        .source
        .as_deref()?
        .strip_prefix(SOURCE_PREFIX)
}

/// Plans the folder `files` (any order) against every stored tenant.
pub fn plan(files: &[ScannedFile], stored: &[Tenant], prune: bool) -> Plan {
    let mut files: Vec<&ScannedFile> = files.iter().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let stored: BTreeMap<&str, &Tenant> = stored
        .iter()
        .map(|t| (t.metadata.name.as_str(), t))
        .collect();
    let owned_by = |path: &str| -> Vec<String> {
        stored
            .values()
            .filter(|t| file_of(t) == Some(path))
            .map(|t| t.metadata.name.clone())
            .collect()
    };

    // Who defines each name. A file that cannot be read as tenants keeps what it owns.
    let mut claimants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut owned: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for file in &files {
        owned.insert(&file.path, owned_by(&file.path));
    }
    for file in &files {
        match &file.content {
            Content::Valid(tenants) => {
                for t in tenants {
                    claimants
                        .entry(t.tenant.metadata.name.as_str())
                        .or_default()
                        .push(&file.path);
                }
            }
            Content::Invalid(_) | Content::Unreadable(_) => {
                for name in &owned[file.path.as_str()] {
                    claimants.entry(name.as_str()).or_default().push(&file.path);
                }
            }
        }
    }
    // The winner of a name: its owner in the store if that file still claims it, else the
    // first claimant by path (`files` is sorted, so claimants are too).
    let winner = |name: &str| -> Option<&str> {
        let candidates = claimants.get(name)?;
        let owner = stored.get(name).and_then(|t| file_of(t));
        Some(
            owner
                .filter(|o| candidates.contains(o))
                .unwrap_or(candidates[0]),
        )
    };

    let mut planned = Vec::with_capacity(files.len());
    // Names kept by some file: defined by a file that applies, or owned by one that cannot.
    let mut kept: BTreeSet<String> = BTreeSet::new();
    for file in &files {
        let path = file.path.as_str();
        let (tenants, verdict) = match &file.content {
            Content::Invalid(error) => (owned[path].clone(), Verdict::Invalid(error.clone())),
            Content::Unreadable(message) => {
                (owned[path].clone(), Verdict::Unreadable(message.clone()))
            }
            Content::Valid(defined) => {
                let names = defined
                    .iter()
                    .map(|t| t.tenant.metadata.name.clone())
                    .collect();
                (names, plan_valid_file(path, defined, &stored, &winner))
            }
        };
        match &verdict {
            Verdict::Apply(_) => kept.extend(tenants.iter().cloned()),
            _ => kept.extend(owned[path].iter().cloned()),
        }
        planned.push(FilePlan {
            path: file.path.clone(),
            sha256: file.sha256.clone(),
            tenants,
            verdict,
        });
    }

    let mut prunes = Vec::new();
    let mut orphans = Vec::new();
    for tenant in stored.values() {
        let Some(file) = file_of(tenant) else {
            continue;
        };
        if kept.contains(&tenant.metadata.name) || tenant.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let stray = Stray {
            name: tenant.metadata.name.clone(),
            file: file.to_owned(),
            uid: tenant.metadata.uid.clone().unwrap_or_default(),
        };
        if prune {
            prunes.push(stray);
        } else {
            orphans.push(stray);
        }
    }
    Plan {
        files: planned,
        prunes,
        orphans,
    }
}

/// The verdict for a valid file: refused whole on the first tenant it may not write, else the
/// writes that differ from the store.
fn plan_valid_file<'a>(
    path: &str,
    defined: &[FileTenant],
    stored: &BTreeMap<&str, &Tenant>,
    winner: &impl Fn(&str) -> Option<&'a str>,
) -> Verdict {
    let mut writes = Vec::new();
    for FileTenant { tenant, line } in defined {
        let name = tenant.metadata.name.as_str();
        let conflict =
            |message: String| Verdict::Conflict(FileError::new(message).at(Some(*line), None));
        let won_by = winner(name).expect("a name this file defines has this file as a claimant");
        if won_by != path {
            return conflict(format!(
                "tenant {name} is also defined in {won_by}, which owns it; define it in one file only"
            ));
        }
        let kind = match stored.get(name) {
            None => WriteKind::Create,
            Some(current) => match file_of(current) {
                None => {
                    return conflict(format!(
                        "tenant {name} exists and was not applied from a file; the specs sync \
                         leaves it alone (rename it here, or delete the other one)"
                    ));
                }
                Some(owner) if owner == path => {
                    if same_desired_state(current, tenant)
                        && current.metadata.deletion_timestamp.is_none()
                    {
                        continue;
                    }
                    WriteKind::Update
                }
                Some(owner) => WriteKind::TakeOver {
                    from: owner.to_owned(),
                },
            },
        };
        writes.push(Write {
            tenant: tenant.clone(),
            line: *line,
            kind,
        });
    }
    Verdict::Apply(writes)
}

/// Whether writing `wanted` over `current` would change nothing (what `Store::apply_with`
/// compares; an owner left out of the file keeps the stored one).
fn same_desired_state(current: &Tenant, wanted: &Tenant) -> bool {
    current.spec == wanted.spec
        && current.metadata.labels == wanted.metadata.labels
        && wanted
            .metadata
            .owner
            .as_ref()
            .is_none_or(|owner| current.metadata.owner.as_ref() == Some(owner))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::resource::{API_VERSION, DesiredState, KIND, ObjectMeta, TenantSpec};

    fn tenant(name: &str) -> Tenant {
        Tenant {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: ObjectMeta {
                name: name.into(),
                labels: BTreeMap::from([("plan".into(), "test".into())]),
                ..ObjectMeta::default()
            },
            spec: TenantSpec::default(),
            status: None,
        }
    }

    /// `tenant(name)` as the store returns it, applied by `source` (`None`: the API).
    fn stored(name: &str, source: Option<&str>) -> Tenant {
        let mut t = tenant(name);
        t.metadata.uid = Some(format!("uid-{name}"));
        t.metadata.resource_version = Some("1".into());
        t.metadata.generation = Some(1);
        t.metadata.source = source.map(source_of);
        t
    }

    fn valid(path: &str, names: &[&str]) -> ScannedFile {
        ScannedFile {
            path: path.into(),
            sha256: format!("hash-of-{path}"),
            content: Content::Valid(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| FileTenant {
                        tenant: tenant(n),
                        line: 1 + 6 * i,
                    })
                    .collect(),
            ),
        }
    }

    fn invalid(path: &str) -> ScannedFile {
        ScannedFile {
            path: path.into(),
            sha256: "bad".into(),
            content: Content::Invalid(
                FileError::new("unknown field `imagee`").at(Some(6), Some(3)),
            ),
        }
    }

    fn writes<'a>(plan: &'a Plan, path: &str) -> Vec<(&'a str, &'a WriteKind)> {
        match &file(plan, path).verdict {
            Verdict::Apply(writes) => writes
                .iter()
                .map(|w| (w.tenant.metadata.name.as_str(), &w.kind))
                .collect(),
            other => panic!("{path} should apply, but: {other:?}"),
        }
    }

    fn file<'a>(plan: &'a Plan, path: &str) -> &'a FilePlan {
        plan.files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("{path} is in the plan"))
    }

    fn conflict(plan: &Plan, path: &str) -> String {
        match &file(plan, path).verdict {
            Verdict::Conflict(error) => error.message.clone(),
            other => panic!("{path} should be in conflict, but: {other:?}"),
        }
    }

    fn names(strays: &[Stray]) -> Vec<(&str, &str)> {
        strays
            .iter()
            .map(|s| (s.name.as_str(), s.file.as_str()))
            .collect()
    }

    #[test]
    fn new_tenants_in_a_new_file_are_created() {
        let plan = plan(&[valid("a.yaml", &["acme", "globex"])], &[], false);
        assert_eq!(
            writes(&plan, "a.yaml"),
            [("acme", &WriteKind::Create), ("globex", &WriteKind::Create)]
        );
        assert_eq!(file(&plan, "a.yaml").tenants, ["acme", "globex"]);
        assert!(!plan.is_converged());
    }

    #[test]
    fn a_converged_folder_plans_no_write() {
        let files = [valid("a.yaml", &["acme"]), valid("b.yml", &["globex"])];
        let store = [
            stored("acme", Some("a.yaml")),
            stored("globex", Some("b.yml")),
        ];
        let plan = plan(&files, &store, true);
        assert!(plan.is_converged(), "{plan:#?}");
        assert_eq!(writes(&plan, "a.yaml"), []);
        assert_eq!(plan.prunes, []);
        assert_eq!(plan.orphans, []);
    }

    #[test]
    fn a_changed_spec_or_label_is_an_update_of_that_tenant_only() {
        let mut file_a = valid("a.yaml", &["acme", "globex"]);
        if let Content::Valid(tenants) = &mut file_a.content {
            tenants[0].tenant.spec.state = DesiredState::Stopped;
            tenants[1]
                .tenant
                .metadata
                .labels
                .insert("tier".into(), "gold".into());
        }
        let store = [
            stored("acme", Some("a.yaml")),
            stored("globex", Some("a.yaml")),
        ];
        let plan = plan(&[file_a], &store, false);
        assert_eq!(
            writes(&plan, "a.yaml"),
            [("acme", &WriteKind::Update), ("globex", &WriteKind::Update)]
        );
    }

    #[test]
    fn an_owner_left_out_of_the_file_keeps_the_stored_one_without_a_write() {
        let mut current = stored("acme", Some("a.yaml"));
        current.metadata.owner = Some("ana@example.test".into());
        let plan = plan(&[valid("a.yaml", &["acme"])], &[current], false);
        assert!(plan.is_converged(), "{plan:#?}");
    }

    #[test]
    fn an_invalid_file_changes_nothing_and_keeps_its_tenants() {
        let store = [
            stored("acme", Some("a.yaml")),
            stored("globex", Some("a.yaml")),
        ];
        let plan = plan(&[invalid("a.yaml")], &store, true);
        let a = file(&plan, "a.yaml");
        assert!(matches!(&a.verdict, Verdict::Invalid(e) if e.line == Some(6)));
        assert_eq!(a.tenants, ["acme", "globex"], "its last good tenants");
        assert!(plan.is_converged(), "nothing is written or pruned");
        assert_eq!(plan.prunes, []);
        assert_eq!(plan.orphans, []);
    }

    #[test]
    fn an_unreadable_file_changes_nothing_and_keeps_its_tenants() {
        let unreadable = ScannedFile {
            path: "a.yaml".into(),
            sha256: String::new(),
            content: Content::Unreadable("permission denied".into()),
        };
        let plan = plan(&[unreadable], &[stored("acme", Some("a.yaml"))], true);
        assert!(matches!(
            file(&plan, "a.yaml").verdict,
            Verdict::Unreadable(_)
        ));
        assert_eq!(plan.prunes, []);
    }

    #[test]
    fn a_removed_file_prunes_its_tenants_only_with_prune() {
        let store = [
            stored("acme", Some("gone.yaml")),
            stored("globex", Some("a.yaml")),
            stored("api-made", None),
        ];
        let files = [valid("a.yaml", &["globex"])];
        let kept = plan(&files, &store, false);
        assert_eq!(kept.prunes, []);
        assert_eq!(names(&kept.orphans), [("acme", "gone.yaml")]);
        assert!(kept.is_converged(), "keeping an orphan writes nothing");
        let pruned = plan(&files, &store, true);
        assert_eq!(names(&pruned.prunes), [("acme", "gone.yaml")]);
        assert_eq!(pruned.prunes[0].uid, "uid-acme");
        assert_eq!(pruned.orphans, []);
    }

    #[test]
    fn a_tenant_dropped_from_a_file_is_pruned_like_a_removed_file() {
        let store = [
            stored("acme", Some("a.yaml")),
            stored("globex", Some("a.yaml")),
        ];
        let files = [valid("a.yaml", &["acme"])];
        assert_eq!(
            names(&plan(&files, &store, true).prunes),
            [("globex", "a.yaml")]
        );
        assert_eq!(
            names(&plan(&files, &store, false).orphans),
            [("globex", "a.yaml")]
        );
    }

    #[test]
    fn an_empty_folder_prunes_every_file_tenant_and_nothing_else() {
        let mut other_source = stored("wizard-made", None);
        other_source.metadata.source = Some("web:signup".into());
        let store = [
            stored("acme", Some("a.yaml")),
            stored("api-made", None),
            other_source,
        ];
        let plan = plan(&[], &store, true);
        assert_eq!(names(&plan.prunes), [("acme", "a.yaml")]);
    }

    #[test]
    fn a_tenant_already_being_deleted_is_not_pruned_again() {
        let mut going = stored("acme", Some("a.yaml"));
        going.metadata.deletion_timestamp = Some(chrono::Utc::now());
        let plan = plan(&[], &[going], true);
        assert!(plan.is_converged(), "{plan:#?}");
    }

    #[test]
    fn a_tenant_defined_by_a_file_while_being_deleted_is_written_again() {
        // The store refuses it until the teardown finished; the sync retries on later scans.
        let mut going = stored("acme", Some("a.yaml"));
        going.metadata.deletion_timestamp = Some(chrono::Utc::now());
        let plan = plan(&[valid("a.yaml", &["acme"])], &[going], true);
        assert_eq!(writes(&plan, "a.yaml"), [("acme", &WriteKind::Update)]);
    }

    #[test]
    fn a_tenant_from_the_api_is_never_written_and_its_file_is_refused_whole() {
        let store = [stored("acme", None)];
        let plan = plan(&[valid("a.yaml", &["fresh", "acme"])], &store, true);
        let message = conflict(&plan, "a.yaml");
        assert!(
            message.contains("acme") && message.contains("not applied from a file"),
            "{message}"
        );
        assert_eq!(
            file(&plan, "a.yaml").tenants,
            ["fresh", "acme"],
            "the file's tenants are still listed"
        );
        assert!(plan.is_converged(), "not even the new tenant is created");
        assert_eq!(plan.prunes, [], "an API tenant is never pruned");
    }

    #[test]
    fn a_tenant_in_two_files_belongs_to_its_owner_and_the_other_file_is_refused() {
        let store = [stored("acme", Some("z.yaml"))];
        let files = [
            valid("a.yaml", &["acme", "other"]),
            valid("z.yaml", &["acme"]),
        ];
        let plan = plan(&files, &store, true);
        let message = conflict(&plan, "a.yaml");
        assert!(message.contains("also defined in z.yaml"), "{message}");
        assert_eq!(writes(&plan, "z.yaml"), []);
        assert!(plan.is_converged());
    }

    #[test]
    fn a_new_tenant_in_two_files_goes_to_the_first_file_by_path() {
        let files = [valid("b.yaml", &["acme"]), valid("a.yaml", &["acme"])];
        let plan = plan(&files, &[], false);
        assert_eq!(writes(&plan, "a.yaml"), [("acme", &WriteKind::Create)]);
        assert!(conflict(&plan, "b.yaml").contains("also defined in a.yaml"));
        assert_eq!(
            plan.files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["a.yaml", "b.yaml"],
            "files are planned in path order"
        );
    }

    #[test]
    fn an_invalid_file_keeps_its_tenants_against_another_file_defining_them() {
        let store = [stored("acme", Some("a.yaml"))];
        let files = [invalid("a.yaml"), valid("b.yaml", &["acme"])];
        let plan = plan(&files, &store, true);
        assert!(conflict(&plan, "b.yaml").contains("also defined in a.yaml"));
        assert!(plan.is_converged());
    }

    #[test]
    fn a_conflicted_file_keeps_the_tenants_it_owns_from_being_pruned() {
        let store = [
            stored("acme", Some("a.yaml")),
            stored("dropped", Some("a.yaml")),
            stored("api-made", None),
        ];
        let plan = plan(&[valid("a.yaml", &["acme", "api-made"])], &store, true);
        conflict(&plan, "a.yaml");
        assert_eq!(plan.prunes, [], "a refused file changes nothing");
    }

    #[test]
    fn a_tenant_moved_to_another_file_is_taken_over_not_deleted() {
        let store = [stored("acme", Some("old.yaml"))];
        let plan = plan(&[valid("new.yaml", &["acme"])], &store, true);
        assert_eq!(
            writes(&plan, "new.yaml"),
            [(
                "acme",
                &WriteKind::TakeOver {
                    from: "old.yaml".into()
                }
            )]
        );
        assert_eq!(plan.prunes, []);
    }

    #[test]
    fn a_write_carries_the_line_of_its_document() {
        let plan = plan(&[valid("a.yaml", &["acme", "globex"])], &[], false);
        let Verdict::Apply(w) = &file(&plan, "a.yaml").verdict else {
            panic!("a.yaml applies");
        };
        assert_eq!(w.iter().map(|w| w.line).collect::<Vec<_>>(), [1, 7]);
    }
}
