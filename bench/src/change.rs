//! Scenario 3, one change among N: the environment of one converged tenant changes; time
//! until its replacement container runs healthy, and which of the other containers were
//! touched on the way (they must not be).
//!
//! # Guarantees
//! - "Touched" is read off the engine, not from the contender's own account: a container of
//!   another tenant counts as touched when its id or its start time differs after the
//!   change, so a recreate and a restart are both caught, whatever tool did it.
//! - The waiter is the same for every contender: one list call per poll for the changed
//!   tenant's key, until a container other than the old one runs and is healthy.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;
use futures::StreamExt;

use crate::docker;

/// The value the changed tenant's `GREETING` gets (every other tenant keeps the workload's).
pub const CHANGED_GREETING: &str = "changed";

const POLL: Duration = Duration::from_millis(50);

/// One contender's change: the time, and the work done on the other tenants.
#[derive(Debug, Clone)]
pub struct Change {
    pub took: Duration,
    /// Tenants other than the changed one.
    pub others: usize,
    /// Other tenants whose container was recreated or restarted (must be 0).
    pub others_touched: Vec<String>,
    /// The contender's own Docker API calls in the window, when it counts them (tenantd).
    pub engine_calls: Option<BTreeMap<&'static str, u64>>,
}

/// Each container's identity at one moment, by the contender's key label (tenant, service).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// key → (container id, `State.StartedAt`).
    pub containers: BTreeMap<String, (String, String)>,
}

impl Snapshot {
    /// The containers labelled `run_label`, inspected for their start time.
    pub async fn take(docker: &Docker, run_label: &str, key_label: &str) -> anyhow::Result<Self> {
        let listed = docker::list_labelled(docker, run_label, true, &[])
            .await
            .context("listing containers")?;
        let keyed: Vec<(String, String)> = listed
            .into_iter()
            .filter_map(|c| Some((c.labels?.get(key_label)?.clone(), c.id?)))
            .collect();
        let inspected: Vec<anyhow::Result<(String, (String, String))>> =
            futures::stream::iter(keyed)
                .map(|(key, id)| async move {
                    let inspect = docker
                        .inspect_container(&id, None)
                        .await
                        .with_context(|| format!("inspecting {id}"))?;
                    let started = inspect.state.and_then(|s| s.started_at).unwrap_or_default();
                    Ok((key, (id, started)))
                })
                .buffer_unordered(16)
                .collect()
                .await;
        Ok(Snapshot {
            containers: inspected.into_iter().collect::<anyhow::Result<_>>()?,
        })
    }

    /// The container id of `key`, if it has one.
    pub fn id_of(&self, key: &str) -> Option<&str> {
        self.containers.get(key).map(|(id, _)| id.as_str())
    }
}

/// The keys other than `changed` whose container differs between the snapshots: another id
/// (recreated, or gone) or another start time (restarted). Pure.
pub fn touched(before: &Snapshot, after: &Snapshot, changed: &str) -> Vec<String> {
    before
        .containers
        .iter()
        .filter(|(key, _)| key.as_str() != changed)
        .filter(|(key, identity)| after.containers.get(*key) != Some(identity))
        .map(|(key, _)| key.clone())
        .collect()
}

/// Polls until a container for `key`, other than `old_id`, runs and is healthy; returns when.
pub async fn wait_replaced(
    docker: &Docker,
    run_label: &str,
    key_label: &str,
    key: &str,
    old_id: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let key_filter = format!("{key_label}={key}");
    let filters = [("label", key_filter.as_str()), ("health", "healthy")];
    loop {
        let healthy = docker::list_labelled(docker, run_label, false, &filters)
            .await
            .context("listing containers")?;
        if healthy.iter().any(|c| c.id.as_deref() != Some(old_id)) {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "{key} had no healthy replacement after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(entries: &[(&str, &str, &str)]) -> Snapshot {
        Snapshot {
            containers: entries
                .iter()
                .map(|(k, id, at)| ((*k).to_owned(), ((*id).to_owned(), (*at).to_owned())))
                .collect(),
        }
    }

    #[test]
    fn the_changed_tenant_is_not_counted_as_touched() {
        let before = snapshot(&[("a", "1", "t0"), ("b", "2", "t0")]);
        let after = snapshot(&[("a", "9", "t5"), ("b", "2", "t0")]);
        assert!(touched(&before, &after, "a").is_empty());
    }

    #[test]
    fn a_recreated_restarted_or_removed_neighbour_is_touched() {
        let before = snapshot(&[
            ("a", "1", "t0"),
            ("b", "2", "t0"),
            ("c", "3", "t0"),
            ("d", "4", "t0"),
        ]);
        let after = snapshot(&[("a", "9", "t5"), ("b", "7", "t5"), ("c", "3", "t6")]);
        assert_eq!(touched(&before, &after, "a"), vec!["b", "c", "d"]);
    }
}
