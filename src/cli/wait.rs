//! Waiting for tenants, with progress for people: `wait`, and the `--wait` of `apply`,
//! `delete` and the verbs.
//!
//! It reads each tenant once, then follows the API's watch stream (server-sent events) from
//! the oldest resourceVersion read, so no change in between is missed; a dropped stream is
//! re-read and resumed. Every phase and condition change is printed as it happens.
//!
//! # Guarantees
//! - A condition or phase counts only when the status is for the tenant's latest spec
//!   (`status.observedGeneration == metadata.generation`): a Ready left over from before an
//!   update does not end the wait.
//! - Returns by the deadline, with an error that says what each tenant still is.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Deserialize;

use super::client::{Client, SseParser};
use super::output::Paint;
use crate::resource::{ConditionStatus, DesiredState, Phase, Tenant, condition};

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Goal {
    /// A condition with a status (`condition=Ready`, `condition=Ready=False`).
    Condition {
        type_: String,
        status: ConditionStatus,
    },
    /// A phase (`phase=Stopped`).
    Phase(Phase),
    /// The tenant is gone (`delete`).
    Deleted,
    /// As the spec asks: Ready when it says Running, Stopped when it says Stopped.
    Converged,
}

impl Goal {
    /// Parses `condition=TYPE[=STATUS]`, `phase=PHASE` or `delete`.
    pub fn parse(text: &str) -> Result<Goal, String> {
        let usage = "use condition=TYPE (e.g. condition=Ready), condition=TYPE=False, \
                     phase=PHASE (e.g. phase=Stopped) or delete";
        if text == "delete" {
            return Ok(Goal::Deleted);
        }
        if let Some(rest) = text.strip_prefix("condition=") {
            let (type_, status) = match rest.split_once('=') {
                Some((t, s)) => (t, s),
                None => (rest, "True"),
            };
            let status = match status.to_ascii_lowercase().as_str() {
                "true" => ConditionStatus::True,
                "false" => ConditionStatus::False,
                "unknown" => ConditionStatus::Unknown,
                _ => return Err(format!("condition status {status:?}: {usage}")),
            };
            let known = [
                condition::READY,
                condition::DATABASE_READY,
                condition::CONTAINER_READY,
            ];
            let Some(type_) = known.iter().find(|k| k.eq_ignore_ascii_case(type_)) else {
                return Err(format!(
                    "unknown condition {type_:?}; tenants have {}",
                    known.join(", ")
                ));
            };
            return Ok(Goal::Condition {
                type_: (*type_).to_owned(),
                status,
            });
        }
        if let Some(rest) = text.strip_prefix("phase=") {
            return Phase::ALL
                .into_iter()
                .find(|p| p.as_str().eq_ignore_ascii_case(rest))
                .map(Goal::Phase)
                .ok_or_else(|| {
                    format!(
                        "unknown phase {rest:?}; use one of Pending, Provisioning, Ready, \
                         Stopped, Degraded, Terminating"
                    )
                });
        }
        Err(format!("cannot wait for {text:?}: {usage}"))
    }

    fn describe(&self) -> String {
        match self {
            Goal::Condition {
                type_,
                status: ConditionStatus::True,
            } => format!("condition={type_}"),
            Goal::Condition { type_, status } => format!("condition={type_}={status:?}"),
            Goal::Phase(phase) => format!("phase={}", phase.as_str()),
            Goal::Deleted => "deleted".into(),
            Goal::Converged => "Ready (or Stopped, as its spec asks)".into(),
        }
    }
}

/// Where one tenant stands with respect to a goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Met,
    /// Not yet; what it is now.
    Pending(String),
    /// It will not get there by waiting; why.
    Failed(String),
}

/// Judges one tenant (`None`: it does not exist). With `fail_on_degraded`, a tenant Degraded
/// for its latest spec fails at once instead of waiting out the timeout.
pub fn judge(goal: &Goal, name: &str, tenant: Option<&Tenant>, fail_on_degraded: bool) -> Verdict {
    let Some(tenant) = tenant else {
        return match goal {
            Goal::Deleted => Verdict::Met,
            _ => Verdict::Failed(format!("tenant {name} does not exist (any more)")),
        };
    };
    if *goal == Goal::Deleted {
        return Verdict::Pending(summary(tenant));
    }
    let Some(status) = tenant
        .status
        .as_ref()
        .filter(|s| Some(s.observed_generation) == tenant.metadata.generation)
    else {
        return Verdict::Pending(summary(tenant));
    };
    let met = match goal {
        Goal::Condition {
            type_,
            status: want,
        } => status.condition(type_).is_some_and(|c| c.status == *want),
        Goal::Phase(phase) => status.phase == *phase,
        Goal::Converged => match tenant.spec.state {
            DesiredState::Running => status.phase == Phase::Ready,
            DesiredState::Stopped => status.phase == Phase::Stopped,
        },
        Goal::Deleted => unreachable!("handled above"),
    };
    if met {
        Verdict::Met
    } else if fail_on_degraded && status.phase == Phase::Degraded {
        Verdict::Failed(summary(tenant))
    } else {
        Verdict::Pending(summary(tenant))
    }
}

/// One line on where a tenant stands: its phase and the first condition that is not True.
pub fn summary(tenant: &Tenant) -> String {
    let generation = tenant.metadata.generation.unwrap_or(0);
    let Some(status) = &tenant.status else {
        return "Pending: not reconciled yet".into();
    };
    if tenant.metadata.deletion_timestamp.is_some() {
        return format!("{}: being deleted", status.phase.as_str());
    }
    if status.observed_generation != generation {
        return format!(
            "{}: the reconciler has not acted on generation {generation} yet (status is for {})",
            status.phase.as_str(),
            status.observed_generation
        );
    }
    let failing = [
        condition::DATABASE_READY,
        condition::CONTAINER_READY,
        condition::READY,
    ]
    .into_iter()
    .filter_map(|t| status.condition(t))
    .find(|c| c.status != ConditionStatus::True);
    match failing {
        Some(c) => format!(
            "{} ({}={:?} {}: {})",
            status.phase.as_str(),
            c.type_,
            c.status,
            c.reason,
            c.message
        ),
        None => status.phase.as_str().to_owned(),
    }
}

/// Prints phase and condition changes as they are seen.
pub struct Progress {
    paint: Paint,
    started: Instant,
    seen: HashMap<String, Snapshot>,
}

/// What was last printed for a tenant.
#[derive(Debug, Clone, Default, PartialEq)]
struct Snapshot {
    generation: Option<i64>,
    observed: bool,
    phase: Option<Phase>,
    conditions: BTreeMap<String, (ConditionStatus, String)>,
    deleting: bool,
    gone: bool,
}

impl Progress {
    pub fn new(paint: Paint) -> Progress {
        Progress {
            paint,
            started: Instant::now(),
            seen: HashMap::new(),
        }
    }

    /// Prints what changed for `name` since the last call.
    pub fn show(&mut self, name: &str, tenant: Option<&Tenant>) {
        let elapsed = self.started.elapsed();
        for line in self.changes(name, tenant) {
            println!(
                "{}  tenant/{name}  {line}",
                self.paint.dim(&format!("{:>6.1}s", elapsed.as_secs_f64()))
            );
        }
    }

    /// The lines describing what changed for `name` (and remembers it).
    fn changes(&mut self, name: &str, tenant: Option<&Tenant>) -> Vec<String> {
        let paint = self.paint;
        let before = self.seen.get(name).cloned();
        let mut lines = Vec::new();
        let Some(tenant) = tenant else {
            if before.is_some_and(|b| !b.gone) {
                lines.push("deleted".into());
            }
            self.seen.insert(
                name.to_owned(),
                Snapshot {
                    gone: true,
                    ..Snapshot::default()
                },
            );
            return lines;
        };
        let generation = tenant.metadata.generation;
        let before = before
            .filter(|b| b.generation == generation && !b.gone)
            .unwrap_or_default();
        let mut now = Snapshot {
            generation,
            deleting: tenant.metadata.deletion_timestamp.is_some(),
            ..Snapshot::default()
        };
        if now.deleting && !before.deleting {
            lines.push("deletion requested; the reconciler tears it down".into());
        }
        // A delete does not move the generation: until the reconciler says Terminating, the
        // status describes the tenant from before the delete and is not shown.
        let status = tenant
            .status
            .as_ref()
            .filter(|s| Some(s.observed_generation) == generation)
            .filter(|s| !now.deleting || s.phase == Phase::Terminating);
        match status {
            None if now.deleting => {}
            None => {
                if before.generation.is_none() || before.observed {
                    lines.push(format!(
                        "generation {} accepted; waiting for the reconciler",
                        generation.unwrap_or(0)
                    ));
                }
                // Stale conditions are not shown; the fresh status will show all of them,
                // since this snapshot records none.
            }
            Some(status) => {
                now.observed = true;
                now.phase = Some(status.phase);
                if before.phase != now.phase {
                    lines.push(paint.phase(status.phase.as_str()));
                }
                for c in &status.conditions {
                    let key = (c.status, c.reason.clone());
                    // `Ready` sums up the others: shown only when it says something they
                    // do not (the phase line already says when everything is ready).
                    let echo = c.type_ == condition::READY
                        && (c.status == ConditionStatus::True
                            || status
                                .conditions
                                .iter()
                                .any(|o| o.type_ != c.type_ && o.reason == c.reason));
                    if before.conditions.get(&c.type_) != Some(&key) && !echo {
                        let state = format!("{}={:?}", c.type_, c.status);
                        let state = match c.status {
                            ConditionStatus::True => paint.green(&state),
                            _ => paint.yellow(&state),
                        };
                        lines.push(format!("{state} {}: {}", c.reason, c.message));
                    }
                    now.conditions.insert(c.type_.clone(), key);
                }
            }
        }
        self.seen.insert(name.to_owned(), now);
        lines
    }
}

/// `tenantd wait`: waits for `names` to meet `goal`, printing progress.
pub async fn run(
    client: &Client,
    names: &[String],
    goal: &Goal,
    timeout: Duration,
) -> anyhow::Result<()> {
    until(client, names, goal, timeout, false, Paint::stdout()).await
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    type_: String,
    object: serde_json::Value,
}

/// Waits until every tenant of `names` meets `goal`, printing progress; fails at the
/// deadline (or at once when one fails, see [`judge`]) saying where each one stands.
pub async fn until(
    client: &Client,
    names: &[String],
    goal: &Goal,
    timeout: Duration,
    fail_on_degraded: bool,
    paint: Paint,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut progress = Progress::new(paint);
    let mut state: BTreeMap<String, Option<Tenant>> = BTreeMap::new();
    let mut reported: Vec<String> = Vec::new();
    let mut since: Option<i64> = None;
    // False once the server said the read versions are too old to resume from (410): then
    // only versions seen on the stream itself, which are current, are resumed from.
    let mut resume_from_reads = true;
    let mut first = true;
    loop {
        // (Re-)read every tenant still waited for, then follow the watch from there.
        for name in names.iter().filter(|n| !reported.contains(n)) {
            let tenant = client.find(name).await?;
            if first && tenant.is_none() && *goal != Goal::Deleted {
                bail!("tenant {name} not found; `tenantd get` lists the tenants");
            }
            if let Some(version) = tenant
                .as_ref()
                .filter(|_| resume_from_reads)
                .and_then(|t| t.metadata.resource_version.as_deref())
                .and_then(|v| v.parse::<i64>().ok())
            {
                since = Some(since.map_or(version, |s| s.min(version)));
            }
            progress.show(name, tenant.as_ref());
            state.insert(name.clone(), tenant);
        }
        first = false;
        if settle(goal, &state, &mut reported, fail_on_degraded, paint)? {
            return Ok(());
        }
        let mut query = Vec::new();
        if let Some(since) = since {
            query.push(("resourceVersion", since.to_string()));
        }
        let opened =
            tokio::time::timeout_at(deadline, client.stream("/watch/tenants", &query)).await;
        let mut response = match opened {
            Err(_) => return Err(timed_out(goal, timeout, &state, &reported)),
            Ok(Ok(response)) => response,
            Ok(Err(e)) if e.api().is_some_and(|f| f.status == 410) => {
                // Too old to resume from: read again and watch from now.
                since = None;
                resume_from_reads = false;
                continue;
            }
            Ok(Err(e)) => return Err(e.into()),
        };
        let mut parser = SseParser::default();
        loop {
            let chunk = tokio::time::timeout_at(deadline, client.chunk(&mut response)).await;
            let bytes = match chunk {
                Err(_) => return Err(timed_out(goal, timeout, &state, &reported)),
                // The stream ended or broke: read again and resume.
                Ok(Ok(None)) | Ok(Err(_)) => break,
                Ok(Ok(Some(bytes))) => bytes,
            };
            for event in parser.feed(&bytes) {
                if let Some(id) = event.id.as_deref().and_then(|v| v.parse::<i64>().ok()) {
                    since = Some(since.map_or(id, |s| s.max(id)));
                }
                let Ok(watch) = serde_json::from_str::<WatchEvent>(&event.data) else {
                    continue;
                };
                let name = watch
                    .object
                    .pointer("/metadata/name")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                if !state.contains_key(&name) || reported.contains(&name) {
                    continue;
                }
                let tenant = if watch.type_ == "DELETED" {
                    None
                } else {
                    match serde_json::from_value::<Tenant>(watch.object) {
                        Ok(tenant) => Some(tenant),
                        Err(_) => continue,
                    }
                };
                progress.show(&name, tenant.as_ref());
                state.insert(name, tenant);
            }
            if settle(goal, &state, &mut reported, fail_on_degraded, paint)? {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Reports tenants that just met the goal; errors if one failed. True when all are done.
fn settle(
    goal: &Goal,
    state: &BTreeMap<String, Option<Tenant>>,
    reported: &mut Vec<String>,
    fail_on_degraded: bool,
    paint: Paint,
) -> anyhow::Result<bool> {
    for (name, tenant) in state {
        if reported.contains(name) {
            continue;
        }
        match judge(goal, name, tenant.as_ref(), fail_on_degraded) {
            Verdict::Met => {
                let what = match goal {
                    Goal::Deleted => "deleted".to_owned(),
                    Goal::Converged => tenant
                        .as_ref()
                        .and_then(|t| t.status.as_ref())
                        .map_or("Ready".to_owned(), |s| s.phase.as_str().to_owned()),
                    _ => "condition met".to_owned(),
                };
                println!("tenant/{name} {}", paint.green(&what));
                reported.push(name.clone());
            }
            Verdict::Pending(_) => {}
            Verdict::Failed(why) => bail!(
                "tenant/{name} failed: {why}. The reconciler keeps retrying; `tenantd describe \
                 {name}` shows its conditions and events"
            ),
        }
    }
    Ok(reported.len() == state.len())
}

fn timed_out(
    goal: &Goal,
    timeout: Duration,
    state: &BTreeMap<String, Option<Tenant>>,
    reported: &[String],
) -> anyhow::Error {
    let pending: Vec<String> = state
        .iter()
        .filter(|(name, _)| !reported.contains(name))
        .map(|(name, tenant)| match tenant {
            Some(t) => format!("tenant/{name} is {}", summary(t)),
            None => format!("tenant/{name} does not exist"),
        })
        .collect();
    let first = state
        .keys()
        .find(|n| !reported.contains(n))
        .cloned()
        .unwrap_or_default();
    anyhow::anyhow!(
        "timed out after {} waiting for {} to be {}: {}. `tenantd describe {first}` shows the \
         conditions and events",
        humantime::format_duration(timeout),
        if pending.len() == 1 {
            "the tenant"
        } else {
            "the tenants"
        },
        goal.describe(),
        pending.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::resource::{Condition, TenantStatus, parse_documents};

    fn tenant(generation: i64, observed: i64, phase: Phase, ready: ConditionStatus) -> Tenant {
        let mut t = parse_documents(
            "apiVersion: tenantd/v1\nkind: Tenant\nmetadata: {name: a}\nspec: {}\n",
        )
        .unwrap()
        .remove(0);
        t.metadata.generation = Some(generation);
        let now = Utc::now();
        t.status = Some(TenantStatus {
            phase,
            observed_generation: observed,
            conditions: vec![
                Condition {
                    type_: "DatabaseReady".into(),
                    status: ConditionStatus::True,
                    reason: "Ready".into(),
                    message: "the schema and role are ready".into(),
                    last_transition_time: now,
                },
                Condition {
                    type_: "Ready".into(),
                    status: ready,
                    reason: if ready == ConditionStatus::True {
                        "Ready".into()
                    } else {
                        "ContainerStarting".into()
                    },
                    message: "waiting".into(),
                    last_transition_time: now,
                },
            ],
            ..TenantStatus::default()
        });
        t
    }

    #[test]
    fn goals_parse_like_kubectl_wait() {
        assert_eq!(
            Goal::parse("condition=Ready"),
            Ok(Goal::Condition {
                type_: "Ready".into(),
                status: ConditionStatus::True
            })
        );
        assert_eq!(
            Goal::parse("condition=containerready=false"),
            Ok(Goal::Condition {
                type_: "ContainerReady".into(),
                status: ConditionStatus::False
            })
        );
        assert_eq!(
            Goal::parse("phase=stopped"),
            Ok(Goal::Phase(Phase::Stopped))
        );
        assert_eq!(Goal::parse("delete"), Ok(Goal::Deleted));
        assert!(
            Goal::parse("condition=Happy")
                .unwrap_err()
                .contains("Ready")
        );
        assert!(Goal::parse("ready").unwrap_err().contains("condition="));
    }

    #[test]
    fn a_ready_condition_for_an_older_generation_does_not_count() {
        let goal = Goal::parse("condition=Ready").unwrap();
        let stale = tenant(2, 1, Phase::Ready, ConditionStatus::True);
        assert!(matches!(
            judge(&goal, "a", Some(&stale), false),
            Verdict::Pending(_)
        ));
        let fresh = tenant(2, 2, Phase::Ready, ConditionStatus::True);
        assert_eq!(judge(&goal, "a", Some(&fresh), false), Verdict::Met);
    }

    #[test]
    fn degraded_fails_only_when_asked_to() {
        let degraded = tenant(1, 1, Phase::Degraded, ConditionStatus::False);
        assert!(matches!(
            judge(&Goal::Converged, "a", Some(&degraded), true),
            Verdict::Failed(why) if why.contains("ContainerStarting")
        ));
        assert!(matches!(
            judge(&Goal::Converged, "a", Some(&degraded), false),
            Verdict::Pending(_)
        ));
    }

    #[test]
    fn a_missing_tenant_meets_only_the_delete_goal() {
        assert_eq!(judge(&Goal::Deleted, "a", None, false), Verdict::Met);
        assert!(matches!(
            judge(&Goal::Converged, "a", None, false),
            Verdict::Failed(_)
        ));
    }

    #[test]
    fn a_stopped_spec_converges_at_phase_stopped() {
        let mut stopped = tenant(1, 1, Phase::Stopped, ConditionStatus::False);
        stopped.spec.state = DesiredState::Stopped;
        assert_eq!(
            judge(&Goal::Converged, "a", Some(&stopped), true),
            Verdict::Met
        );
    }

    #[test]
    fn progress_prints_only_what_changed() {
        let mut progress = Progress::new(Paint::plain());
        let first = progress.changes(
            "a",
            Some(&tenant(1, 1, Phase::Provisioning, ConditionStatus::False)),
        );
        assert_eq!(
            first,
            [
                "Provisioning",
                "DatabaseReady=True Ready: the schema and role are ready",
                "Ready=False ContainerStarting: waiting"
            ],
            "Ready is shown when no other condition says why"
        );
        let same = progress.changes(
            "a",
            Some(&tenant(1, 1, Phase::Provisioning, ConditionStatus::False)),
        );
        assert!(same.is_empty(), "{same:?}");
        let ready = progress.changes(
            "a",
            Some(&tenant(1, 1, Phase::Ready, ConditionStatus::True)),
        );
        assert_eq!(ready, ["Ready"], "Ready=True only repeats the phase");
        let next = progress.changes(
            "a",
            Some(&tenant(2, 1, Phase::Ready, ConditionStatus::True)),
        );
        assert_eq!(next, ["generation 2 accepted; waiting for the reconciler"]);
        let mut deleting = tenant(2, 2, Phase::Ready, ConditionStatus::True);
        deleting.metadata.deletion_timestamp = Some(Utc::now());
        assert_eq!(
            progress.changes("a", Some(&deleting)),
            ["deletion requested; the reconciler tears it down"],
            "the status from before the delete is not shown as progress"
        );
        assert_eq!(progress.changes("a", None), ["deleted"]);
    }
}
