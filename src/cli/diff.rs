//! `tenantd diff -f`: what `apply` would change, as a Terraform-style plan, from the API's dry
//! run; and what changed outside tenantd (drift) that the reconciler will repair.
//!
//! Markers: `+` create, `~` update in place, `-/+` replace the container (the field that
//! forces it is named; the tenant's data is kept), `-` destroy. Every line ends with its cause.
//!
//! What `diff` shows as destroyed, and why so little: `apply` never deletes tenants that are
//! missing from the files (there is no prune), so `diff` does not show them either — like
//! `kubectl diff` without `--prune`. A `-` appears for a tenant in the files whose deletion
//! is already under way (apply cannot recreate it until it is gone), and for every tenant of
//! the files with `diff --delete`, which previews `delete -f` of the same files.
//!
//! Exit status: 0 no changes and no drift, 2 changes or drift, 1 error.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use super::apply::{locate, nothing_applied};
use super::client::{self, Change, Client, Step, WriteFlags};
use super::documents::{self, Problems};
use super::output::{Paint, value};
use crate::resource::{DeletionPolicy, Tenant};

/// What happens to one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Create,
    Update,
    /// Updated, and the container is replaced.
    Replace,
    Destroy,
}

/// The plan for one tenant of the files.
#[derive(Debug, Clone)]
pub struct TenantPlan {
    pub name: String,
    /// `None`: the spec is unchanged.
    pub kind: Option<Kind>,
    pub changes: Vec<Change>,
    /// Why it is destroyed (for [`Kind::Destroy`]).
    pub destroy_cause: String,
    /// What the reconciler would do now for the stored spec.
    pub drift: Vec<Step>,
    /// Set when the stored tenant is still converging (its drift may be work in progress).
    pub converging: Option<String>,
    /// The specs/ directory owns the tenant: apply needs --force.
    pub managed_by_file: bool,
}

pub async fn run(client: &Client, files: &[PathBuf], delete: bool) -> anyhow::Result<ExitCode> {
    let paint = Paint::stdout();
    let documents = documents::load(files, f64::INFINITY).map_err(cannot_diff)?;
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for document in &documents {
        let name = document.name().to_owned();
        let plan = if delete {
            preview_delete(client, &name).await?
        } else {
            match client.dry_run(&document.tenant, false).await {
                Ok(dry_run) => Some(plan_of(&name, &dry_run)),
                // The specs/ directory owns it: still show the difference (a diff writes
                // nothing), and say that apply needs --force.
                Err(client::Error::Api(failure)) if failure.is_owned_by_file() => {
                    let dry_run = client.dry_run(&document.tenant, true).await?;
                    let mut plan = plan_of(&name, &dry_run);
                    plan.managed_by_file = true;
                    Some(plan)
                }
                Err(client::Error::Api(failure)) if failure.status == 409 => {
                    match client.find(&name).await? {
                        Some(stored) if stored.metadata.deletion_timestamp.is_some() => {
                            Some(being_deleted(&name, &stored))
                        }
                        _ => {
                            problems.extend(locate(document, &failure));
                            None
                        }
                    }
                }
                Err(client::Error::Api(failure)) => {
                    problems.extend(locate(document, &failure));
                    None
                }
                Err(other) => return Err(other.into()),
            }
        };
        plans.extend(plan);
    }
    if !problems.is_empty() {
        return Err(cannot_diff(Problems(problems)));
    }
    print!("{}", render(&plans, documents.len(), paint));
    Ok(if has_changes(&plans) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn cannot_diff(problems: Problems) -> anyhow::Error {
    let text = nothing_applied(problems).to_string();
    anyhow::anyhow!(
        "{}",
        text.replacen("nothing was applied", "cannot compute the diff", 1)
    )
}

/// The plan from a dry run of `PUT`.
pub fn plan_of(name: &str, dry_run: &client::DryRun) -> TenantPlan {
    let kind = match dry_run.outcome.as_str() {
        "created" => Some(Kind::Create),
        "unchanged" => None,
        _ if dry_run.changes.iter().any(|c| c.forces_replacement) => Some(Kind::Replace),
        _ => Some(Kind::Update),
    };
    let stored = &dry_run.tenant;
    let converging = stored.status.as_ref().and_then(|s| {
        let generation = stored.metadata.generation.unwrap_or(0);
        if s.observed_generation != generation {
            Some(format!(
                "the reconciler has not acted on generation {generation} yet"
            ))
        } else if matches!(s.phase.as_str(), "Pending" | "Provisioning") {
            Some(format!("the tenant is {}", s.phase.as_str()))
        } else {
            None
        }
    });
    TenantPlan {
        name: name.to_owned(),
        kind,
        changes: dry_run.changes.clone(),
        destroy_cause: String::new(),
        drift: if kind == Some(Kind::Create) {
            Vec::new()
        } else {
            dry_run.drift.clone()
        },
        converging: if kind == Some(Kind::Create) || stored.status.is_none() {
            None
        } else {
            converging
        },
        managed_by_file: false,
    }
}

fn being_deleted(name: &str, stored: &Tenant) -> TenantPlan {
    TenantPlan {
        name: name.to_owned(),
        kind: Some(Kind::Destroy),
        changes: Vec::new(),
        destroy_cause: format!(
            "its deletion is under way ({}); apply cannot recreate it until it is gone",
            policy_effect(stored.spec.database.deletion_policy)
        ),
        drift: Vec::new(),
        converging: None,
        managed_by_file: false,
    }
}

/// What `delete` would do to `name` (`DELETE ?dryRun=true`).
async fn preview_delete(client: &Client, name: &str) -> anyhow::Result<Option<TenantPlan>> {
    let flags = WriteFlags {
        dry_run: true,
        force: true,
    };
    match client.delete(name, flags).await {
        Ok(tenant) => Ok(Some(TenantPlan {
            name: name.to_owned(),
            kind: Some(Kind::Destroy),
            changes: Vec::new(),
            destroy_cause: policy_effect(tenant.spec.database.deletion_policy),
            drift: Vec::new(),
            converging: None,
            managed_by_file: false,
        })),
        Err(e) if e.is_not_found() => Ok(Some(TenantPlan {
            name: name.to_owned(),
            kind: None,
            changes: Vec::new(),
            destroy_cause: String::new(),
            drift: Vec::new(),
            converging: None,
            managed_by_file: false,
        })),
        Err(e) => Err(e.into()),
    }
}

fn policy_effect(policy: DeletionPolicy) -> String {
    match policy {
        DeletionPolicy::Delete => {
            "deletionPolicy Delete: the container goes, the schema and role are dropped"
        }
        DeletionPolicy::Retain => {
            "deletionPolicy Retain: the container goes, the schema and role are kept"
        }
        DeletionPolicy::BackupThenDelete => {
            "deletionPolicy BackupThenDelete: the container goes, the schema is dumped, then \
             dropped with the role"
        }
    }
    .to_owned()
}

/// Whether anything would change (for the exit status).
pub fn has_changes(plans: &[TenantPlan]) -> bool {
    plans
        .iter()
        .any(|p| p.kind.is_some() || !p.drift.is_empty())
}

/// Why a field's change is made in place or forces replacement.
fn cause(change: &Change) -> &'static str {
    if change.forces_replacement {
        return "forces replacement";
    }
    match change.field.as_str() {
        "spec.state" => "in place: the container is started or stopped",
        "spec.database.deletionPolicy" => "in place: used when the tenant is deleted",
        "spec.imagePullPolicy" => "in place: used at the next pull",
        f if f.starts_with("metadata.labels") => "in place: labels do not touch the container",
        _ => "in place",
    }
}

/// The plan as text.
pub fn render(plans: &[TenantPlan], total: usize, paint: Paint) -> String {
    let mut out = String::new();
    let count = |k: Kind| plans.iter().filter(|p| p.kind == Some(k)).count();
    let drifted: Vec<&TenantPlan> = plans.iter().filter(|p| !p.drift.is_empty()).collect();
    if !has_changes(plans) {
        let _ = writeln!(
            out,
            "No changes. {total} tenant{} up to date, and nothing changed outside tenantd.",
            if total == 1 { " is" } else { "s are" }
        );
        return out;
    }
    if plans.iter().any(|p| p.kind.is_some()) {
        let _ = writeln!(out, "tenantd will make these changes:\n");
    }
    for plan in plans {
        let Some(kind) = plan.kind else { continue };
        let name = &plan.name;
        let (marker, why) = match kind {
            Kind::Create => (paint.green("  +"), "will be created".to_owned()),
            Kind::Update => (paint.yellow("  ~"), "will be updated in place".to_owned()),
            Kind::Replace => {
                let forcing: Vec<&str> = plan
                    .changes
                    .iter()
                    .filter(|c| c.forces_replacement)
                    .map(|c| c.field.as_str())
                    .collect();
                (
                    paint.red("-/+"),
                    format!(
                        "its container will be replaced: {} forces it (the data is kept)",
                        forcing.join(", ")
                    ),
                )
            }
            Kind::Destroy => (
                paint.red("  -"),
                format!("will be destroyed: {}", plan.destroy_cause),
            ),
        };
        let why = if plan.managed_by_file {
            format!("{why}; managed by the specs/ directory: apply needs --force")
        } else {
            why
        };
        let _ = writeln!(
            out,
            "{marker} {}  {}",
            paint.bold(&format!("tenant/{name}")),
            paint.dim(&format!("# {why}"))
        );
        for change in &plan.changes {
            let (marker, text) = match (&change.from, &change.to) {
                (None, Some(to)) => (paint.green("+"), format!("{}: {}", change.field, value(to))),
                (Some(from), None) => {
                    (paint.red("-"), format!("{}: {}", change.field, value(from)))
                }
                (Some(from), Some(to)) => (
                    paint.yellow("~"),
                    format!("{}: {} -> {}", change.field, value(from), value(to)),
                ),
                (None, None) => continue,
            };
            let why = if kind == Kind::Create {
                "new tenant"
            } else {
                cause(change)
            };
            let why = if change.forces_replacement {
                paint.red(&format!("# {why}"))
            } else {
                paint.dim(&format!("# {why}"))
            };
            let _ = writeln!(out, "      {marker} {text}  {why}");
        }
        out.push('\n');
    }
    if !drifted.is_empty() {
        let _ = writeln!(
            out,
            "Changed outside tenantd (drift the reconciler will repair):\n"
        );
        for plan in &drifted {
            let note = plan
                .converging
                .as_deref()
                .map(|c| format!(" ({c}: some of this may be work in progress)"))
                .unwrap_or_default();
            let _ = writeln!(out, "  # tenant/{}{note}", plan.name);
            for step in &plan.drift {
                let _ = writeln!(
                    out,
                    "      {} {}: {}  {}",
                    paint.yellow("!"),
                    step.action,
                    step.detail,
                    paint.dim(&format!("# {}", step.cause))
                );
            }
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "Plan: {} to create, {} to update in place, {} to replace, {} to destroy; {} tenant{} drifted.",
        count(Kind::Create),
        count(Kind::Update),
        count(Kind::Replace),
        count(Kind::Destroy),
        drifted.len(),
        if drifted.len() == 1 { "" } else { "s" }
    );
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn change(field: &str, from: Option<&str>, to: Option<&str>, forces: bool) -> Change {
        Change {
            field: field.into(),
            from: from.map(|v| json!(v)),
            to: to.map(|v| json!(v)),
            forces_replacement: forces,
        }
    }

    fn plan(name: &str, kind: Option<Kind>, changes: Vec<Change>) -> TenantPlan {
        TenantPlan {
            name: name.into(),
            kind,
            changes,
            destroy_cause: String::new(),
            drift: Vec::new(),
            converging: None,
            managed_by_file: false,
        }
    }

    #[test]
    fn a_replacement_names_the_field_that_forces_it_and_every_line_has_a_cause() {
        let plans = [
            plan(
                "acme",
                Some(Kind::Replace),
                vec![
                    change("metadata.labels.plan", Some("a"), Some("b"), false),
                    change("spec.env.GREETING", Some("hello"), Some("hi"), true),
                ],
            ),
            plan(
                "beta",
                Some(Kind::Update),
                vec![change("metadata.labels.tier", None, Some("gold"), false)],
            ),
        ];
        let mut plans = plans;
        plans[1].managed_by_file = true;
        let text = render(&plans, 2, Paint::plain());
        assert!(
            text.contains("-/+ tenant/acme  # its container will be replaced: spec.env.GREETING forces it (the data is kept)"),
            "{text}"
        );
        assert!(
            text.contains("~ spec.env.GREETING: \"hello\" -> \"hi\"  # forces replacement"),
            "{text}"
        );
        assert!(
            text.contains("~ metadata.labels.plan: \"a\" -> \"b\"  # in place"),
            "{text}"
        );
        assert!(
            text.contains("  ~ tenant/beta  # will be updated in place; managed by the specs/ directory: apply needs --force"),
            "{text}"
        );
        assert!(
            text.contains("+ metadata.labels.tier: \"gold\"  # in place"),
            "{text}"
        );
        assert!(
            text.contains("Plan: 0 to create, 1 to update in place, 1 to replace, 0 to destroy; 0 tenants drifted."),
            "{text}"
        );
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with(['+', '~', '-']))
        {
            assert!(
                line.contains('#'),
                "every change line has a cause: {line:?}"
            );
        }
    }

    #[test]
    fn drift_has_its_own_section_with_causes() {
        let mut drifted = plan("acme", None, vec![]);
        drifted.drift = vec![Step {
            action: "CreateContainer".into(),
            detail: "create the container and start it".into(),
            cause: "the container is missing".into(),
        }];
        let text = render(&[drifted.clone()], 1, Paint::plain());
        assert!(!text.contains("will make these changes"), "{text}");
        assert!(
            text.contains("Changed outside tenantd (drift the reconciler will repair):"),
            "{text}"
        );
        assert!(
            text.contains(
                "! CreateContainer: create the container and start it  # the container is missing"
            ),
            "{text}"
        );
        assert!(text.contains("1 tenant drifted."), "{text}");
        assert!(has_changes(&[drifted]));
    }

    #[test]
    fn nothing_to_do_says_so_and_is_not_a_change() {
        let plans = [plan("acme", None, vec![])];
        assert!(!has_changes(&plans));
        assert_eq!(
            render(&plans, 1, Paint::plain()),
            "No changes. 1 tenant is up to date, and nothing changed outside tenantd.\n"
        );
    }

    #[test]
    fn a_destroy_line_says_what_happens_to_the_data() {
        let mut destroyed = plan("old", Some(Kind::Destroy), vec![]);
        destroyed.destroy_cause = policy_effect(DeletionPolicy::Retain);
        let text = render(&[destroyed], 1, Paint::plain());
        assert!(
            text.contains("  - tenant/old  # will be destroyed: deletionPolicy Retain: the container goes, the schema and role are kept"),
            "{text}"
        );
        assert!(text.contains("1 to destroy"), "{text}");
    }
}
