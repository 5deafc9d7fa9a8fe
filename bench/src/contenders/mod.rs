//! The contenders: tenantd and the baselines it is compared with, each creating the same
//! tenants (see [`crate::workload`]) its own way.
//!
//! - [`tenantd`]: the reconciler itself, in-process, against the bench's Postgres.
//! - [`compose`]: `docker-compose up -d` of a generated compose file.
//! - [`swarm`]: `docker service create` on a single-node swarm.
//! - [`floor`]: raw bollard create+start with bounded parallelism, the engine's floor.
//!
//! Scenario 5 (the API under load) has two floors of its own, measured in tenantd's attempt
//! and not selectable: [`Contender::HttpFloor`] and [`Contender::StoreFloor`].

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
    /// Scenario 5's HTTP floor: the same requests served from memory ([`crate::api_floor`]).
    #[value(skip)]
    HttpFloor,
    /// Scenario 5's store floor: the API handlers' store calls, without HTTP.
    #[value(skip)]
    StoreFloor,
}

impl Contender {
    pub fn as_str(self) -> &'static str {
        match self {
            Contender::Tenantd => "tenantd",
            Contender::Compose => "compose",
            Contender::Swarm => "swarm",
            Contender::Floor => "floor",
            Contender::HttpFloor => "http-floor",
            Contender::StoreFloor => "store-floor",
        }
    }

    /// How the report names it.
    pub fn title(self) -> &'static str {
        match self {
            Contender::Tenantd => "tenantd",
            Contender::Compose => "docker-compose",
            Contender::Swarm => "Docker Swarm",
            Contender::Floor => "raw bollard (floor)",
            Contender::HttpFloor => "HTTP from memory (floor)",
            Contender::StoreFloor => "store calls, no HTTP (floor)",
        }
    }
}
