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
use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use futures::StreamExt;

const POLL: Duration = Duration::from_millis(50);

/// Per-victim seconds from the removal to a replacement running, and to it being healthy.
#[derive(Debug, Clone, Default)]
pub struct Healing {
    pub k: usize,
    pub running: Vec<f64>,
    pub healthy: Vec<f64>,
}

impl Healing {
    /// When the last victim was healthy again.
    pub fn all_healthy(&self) -> Option<f64> {
        self.healthy.iter().copied().reduce(f64::max)
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
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_owned(),
            vec![run_label.to_owned()],
        )])),
        ..Default::default()
    };
    let containers = docker
        .list_containers(Some(options))
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

/// Removes `k` running containers labelled `run_label` (force, like `docker rm -f`), all at
/// once, and waits until each has a running, healthy replacement.
pub async fn remove_and_watch(
    docker: &Docker,
    run_label: &str,
    key_label: &str,
    k: usize,
    timeout: Duration,
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
    futures::stream::iter(&victims)
        .for_each_concurrent(None, |(_, id)| async move {
            let options = RemoveContainerOptions {
                force: true,
                ..Default::default()
            };
            let _ = docker.remove_container(id, Some(options)).await;
        })
        .await;
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
    Ok(Healing {
        k,
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
    fn all_healthy_is_the_last_victims_time() {
        let healing = Healing {
            k: 3,
            running: vec![0.5, 0.7, 0.6],
            healthy: vec![1.5, 2.5, 1.9],
        };
        assert_eq!(healing.all_healthy(), Some(2.5));
        assert_eq!(Healing::default().all_healthy(), None);
    }
}
