//! Self-healing, measured the same way for every contender that heals: `docker rm -f` of k
//! running containers at once, then, per victim, the time until a replacement (another
//! container with the same identity label) runs, and until it is healthy.
//!
//! # Guarantees
//! - Victims are chosen by a label the contender puts on its containers (tenantd's tenant
//!   label, Swarm's service-name label), so a replacement is recognised whatever its name.
//! - One list call per poll (every 50 ms), whatever k is, as for the converge waiter.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptions;
use futures::StreamExt;
use futures::future::BoxFuture;

const POLL: Duration = Duration::from_millis(50);

/// Per-victim seconds from the removal to a replacement running, and to it being healthy.
#[derive(Debug, Clone, Default)]
pub struct Healing {
    pub k: usize,
    /// When each `rm -f` call returned: no replacement can take the name before.
    pub removed: Vec<f64>,
    pub running: Vec<f64>,
    pub healthy: Vec<f64>,
}

impl Healing {
    /// When the last victim was healthy again.
    pub fn all_healthy(&self) -> Option<f64> {
        self.healthy.iter().copied().reduce(f64::max)
    }

    /// When the last victim had a running replacement: the scenario's figure.
    pub fn all_running(&self) -> Option<f64> {
        self.running.iter().copied().reduce(f64::max)
    }
}

struct Seen {
    id: String,
    running: bool,
    healthy: bool,
}

/// The containers carrying `run_label`, by their value of `key_label`.
async fn list(
    docker: &Docker,
    run_label: &str,
    key_label: &str,
) -> anyhow::Result<HashMap<String, Vec<Seen>>> {
    let containers = crate::docker::list_labelled(docker, run_label, true, &[])
        .await
        .context("listing containers")?;
    let mut by_key: HashMap<String, Vec<Seen>> = HashMap::new();
    for c in containers {
        let (Some(id), Some(key)) = (
            c.id,
            c.labels.as_ref().and_then(|l| l.get(key_label)).cloned(),
        ) else {
            continue;
        };
        let running = c.state.map(|s| s.to_string()).as_deref() == Some("running");
        // The summary's status reads "Up 3 seconds (healthy)" once the check passed.
        let healthy = running && c.status.as_deref().is_some_and(|s| s.contains("(healthy)"));
        by_key.entry(key).or_default().push(Seen {
            id,
            running,
            healthy,
        });
    }
    Ok(by_key)
}

/// What a contender that does not heal on its own does right after each removal: the
/// floor re-creates the container itself at once, the best any healer could do.
pub type Replace<'a> = &'a (dyn Fn(String) -> BoxFuture<'a, anyhow::Result<()>> + Sync);

/// Removes `k` running containers labelled `run_label` (force, like `docker rm -f`), all at
/// once, and waits until each has a running, healthy replacement. `replace` runs after each
/// victim's removal returned, inside the measured window.
pub async fn remove_and_watch(
    docker: &Docker,
    run_label: &str,
    key_label: &str,
    k: usize,
    timeout: Duration,
    replace: Option<Replace<'_>>,
) -> anyhow::Result<Healing> {
    let before = list(docker, run_label, key_label).await?;
    let mut keys: Vec<&String> = before.keys().collect();
    keys.sort();
    let victims: Vec<(String, String)> = keys
        .into_iter()
        .filter_map(|key| {
            let seen = &before[key];
            let running = seen.iter().find(|s| s.running)?;
            Some((key.clone(), running.id.clone()))
        })
        .take(k)
        .collect();
    anyhow::ensure!(
        victims.len() == k,
        "only {} running containers to remove, wanted {k}",
        victims.len()
    );
    let started = Instant::now();
    let removal = futures::stream::iter(&victims)
        .map(|(key, id)| async move {
            let options = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            let _ = docker.remove_container(id, Some(options)).await;
            let removed = started.elapsed().as_secs_f64();
            tracing::debug!(container = %id, "removed");
            if let Some(replace) = replace {
                replace(key.clone()).await?;
            }
            anyhow::Ok(removed)
        })
        .buffer_unordered(victims.len().max(1))
        .collect::<Vec<_>>();
    let watch = async {
        let mut running: HashMap<&str, f64> = HashMap::new();
        let mut healthy: HashMap<&str, f64> = HashMap::new();
        while healthy.len() < victims.len() {
            anyhow::ensure!(
                started.elapsed() < timeout,
                "{} of {k} removed containers were healthy again after {:?}",
                healthy.len(),
                started.elapsed()
            );
            tokio::time::sleep(POLL).await;
            let now = list(docker, run_label, key_label).await?;
            let at = started.elapsed().as_secs_f64();
            for (key, old) in &victims {
                let replacements = now.get(key).into_iter().flatten().filter(|s| &s.id != old);
                for seen in replacements {
                    if seen.running {
                        running.entry(key.as_str()).or_insert(at);
                    }
                    if seen.healthy {
                        running.entry(key.as_str()).or_insert(at);
                        healthy.entry(key.as_str()).or_insert(at);
                    }
                }
            }
        }
        anyhow::Ok((running, healthy))
    };
    let (removed, watched) = futures::join!(removal, watch);
    let removed = removed.into_iter().collect::<anyhow::Result<Vec<f64>>>()?;
    let (running, healthy) = watched?;
    Ok(Healing {
        k,
        removed,
        running: running.into_values().collect(),
        healthy: healthy.into_values().collect(),
    })
}

/// How many containers the self-healing scenario removes out of `n`: a fifth, at least one.
pub fn victims_for(n: usize) -> usize {
    (n / 5).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_of_the_tenants_are_removed_and_at_least_one() {
        assert_eq!(victims_for(3), 1);
        assert_eq!(victims_for(10), 2);
        assert_eq!(victims_for(500), 100);
    }

    #[test]
    fn the_scenario_figures_are_the_last_victims_times() {
        let healing = Healing {
            k: 3,
            removed: vec![0.2, 0.2, 0.3],
            running: vec![0.5, 0.7, 0.6],
            healthy: vec![1.5, 2.5, 1.9],
        };
        assert_eq!(healing.all_healthy(), Some(2.5));
        assert_eq!(healing.all_running(), Some(0.7));
        assert_eq!(Healing::default().all_healthy(), None);
    }
}
