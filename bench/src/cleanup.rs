//! The janitor: knows what a run may have left running and removes everything the harness
//! made, at the start (leftovers of an interrupted run), at the end, and on Ctrl-C.
//!
//! # Guarantees
//! - [`Janitor::sweep`] aborts registered tenantd controllers first and lets them settle, so
//!   none re-creates (heals) a container the sweep removes.
//! - It removes only containers labelled [`OWNER_LABEL`], services and networks named
//!   [`NAME_PREFIX`]…, and databases named `tenantd_bench_…` (with their tenants' roles), and
//!   leaves a swarm only if this process created it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::Docker;
use tokio::task::AbortHandle;

use crate::contenders::{swarm, tenantd};
use crate::docker;
use crate::workload::{NAME_PREFIX, OWNER_LABEL};

#[derive(Default)]
pub struct Janitor {
    /// Controller tasks of tenantd attempts; aborted before a sweep.
    controllers: Mutex<Vec<AbortHandle>>,
    /// Set while the engine is in a swarm this process created.
    swarm_created: AtomicBool,
    /// Whether that `swarm init` also created `docker_gwbridge` (to remove after leaving).
    gwbridge_created: AtomicBool,
}

impl Janitor {
    pub fn register(&self, controller: AbortHandle) {
        let mut controllers = self.controllers.lock().expect("never poisoned");
        controllers.retain(|c| !c.is_finished());
        controllers.push(controller);
    }

    pub fn swarm_created(&self, gwbridge_created: bool) {
        self.gwbridge_created
            .store(gwbridge_created, Ordering::SeqCst);
        self.swarm_created.store(true, Ordering::SeqCst);
    }

    /// Leaves the swarm if this process created it (and is still in it); idempotent.
    pub async fn leave_swarm(&self) -> anyhow::Result<()> {
        if self.swarm_created.swap(false, Ordering::SeqCst) {
            swarm::leave_swarm(self.gwbridge_created.load(Ordering::SeqCst)).await?;
        }
        Ok(())
    }

    /// Removes everything the harness made; reports what it could not remove and goes on.
    pub async fn sweep(&self, docker: &Docker, cluster_url: Option<&str>) {
        let controllers: Vec<AbortHandle> =
            std::mem::take(&mut *self.controllers.lock().expect("never poisoned"));
        if !controllers.is_empty() {
            for controller in &controllers {
                controller.abort();
            }
            // Aborting takes effect at the workers' next await; a Docker call already sent
            // still completes. Let those settle before removing.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if let Ok(state) =
            docker::run_tool("docker", ["info", "--format", "{{.Swarm.LocalNodeState}}"]).await
            && state == "active"
            && let Err(e) = swarm::remove_services(NAME_PREFIX).await
        {
            eprintln!("sweep: cannot remove the bench's swarm services: {e:#}");
        }
        match docker::remove_containers(docker, OWNER_LABEL).await {
            Ok(0) => {}
            Ok(n) => eprintln!("sweep: removed {n} leftover containers labelled {OWNER_LABEL}"),
            Err(e) => eprintln!("sweep: cannot remove the bench's containers: {e:#}"),
        }
        match docker::remove_networks(docker, NAME_PREFIX).await {
            Ok(kept) if kept.is_empty() => {}
            // Seen with Docker 20.10 after hundreds of containers were removed: the network
            // lists no container, but the engine still counts endpoints on it.
            Ok(kept) => eprintln!(
                "sweep: the engine refused to remove {} (\"active endpoints\", though no \
                 container is attached: restarting the Docker daemon frees them; the next run \
                 tries again)",
                kept.join(", ")
            ),
            Err(e) => eprintln!("sweep: cannot remove the bench's networks: {e:#}"),
        }
        if let Some(url) = cluster_url {
            match tenantd::bench_databases(url).await {
                Ok(databases) => {
                    for database in databases {
                        if let Err(e) = tenantd::drop_database(url, &database).await {
                            eprintln!("sweep: cannot drop database {database}: {e:#}");
                        }
                    }
                }
                Err(e) => eprintln!("sweep: {e:#}"),
            }
        }
        if let Err(e) = self.leave_swarm().await {
            eprintln!("sweep: cannot leave the swarm this run created: {e:#}");
        }
    }
}
