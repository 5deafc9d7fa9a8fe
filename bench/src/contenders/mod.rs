//! The contenders: tenantd and the baselines it is compared with, each creating the same
//! tenants (see [`crate::workload`]) its own way.
//!
//! - [`tenantd`]: the reconciler itself, in-process, against the bench's Postgres.
//! - [`compose`]: `docker-compose up -d` of a generated compose file.
//! - [`swarm`]: `docker service create` on a single-node swarm.
//! - [`floor`]: raw bollard create+start with bounded parallelism, the engine's floor.

pub mod compose;
pub mod floor;
pub mod swarm;
pub mod tenantd;

/// The contenders by name, in the report's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Contender {
    Tenantd,
    Compose,
    Swarm,
    Floor,
}

impl Contender {
    pub fn as_str(self) -> &'static str {
        match self {
            Contender::Tenantd => "tenantd",
            Contender::Compose => "compose",
            Contender::Swarm => "swarm",
            Contender::Floor => "floor",
        }
    }

    /// How the report names it.
    pub fn title(self) -> &'static str {
        match self {
            Contender::Tenantd => "tenantd",
            Contender::Compose => "docker-compose",
            Contender::Swarm => "Docker Swarm",
            Contender::Floor => "raw bollard (floor)",
        }
    }
}
