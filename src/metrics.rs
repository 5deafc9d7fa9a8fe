//! Prometheus metrics of the reconciler, served at `/metrics`.
//!
//! # Guarantees
//! - Engine and database call counts are taken from the counters those modules keep, at
//!   scrape time, so they cannot drift from what the tests assert on.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::engine::EngineCallStats;
use crate::resource::Phase;
use crate::tenantdb::DbCallStats;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

/// All metrics, registered once.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    reconcile_duration: Histogram,
    queue_depth: Gauge,
    tenants: Family<PhaseLabel, Gauge>,
    docker_calls: Family<OperationLabel, Counter>,
    database_statements: Family<KindLabel, Counter>,
    orphan_database_objects: Gauge,
    phases: RwLock<HashMap<String, Phase>>,
    /// Engine and database counts already added to the counters.
    exported: Mutex<(EngineCallStats, DbCallStats)>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "tenantd_reconciles",
            "Reconciles by result (success or error)",
            reconciles.clone(),
        );
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "tenantd_reconcile_duration_seconds",
            "Time one reconcile of one tenant took",
            reconcile_duration.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "tenantd_queue_depth",
            "Tenants waiting to be reconciled",
            queue_depth.clone(),
        );
        let tenants = Family::<PhaseLabel, Gauge>::default();
        registry.register("tenantd_tenants", "Tenants by phase", tenants.clone());
        let docker_calls = Family::<OperationLabel, Counter>::default();
        registry.register(
            "tenantd_docker_api_calls",
            "Docker engine API calls by operation",
            docker_calls.clone(),
        );
        let database_statements = Family::<KindLabel, Counter>::default();
        registry.register(
            "tenantd_tenant_database_statements",
            "Statements against tenant schemas and roles, by kind (read or write)",
            database_statements.clone(),
        );
        let orphan_database_objects = Gauge::default();
        registry.register(
            "tenantd_orphan_database_objects",
            "Tenant schemas or roles that have no tenant (reported, never dropped)",
            orphan_database_objects.clone(),
        );
        Metrics {
            registry,
            reconciles,
            reconcile_duration,
            queue_depth,
            tenants,
            docker_calls,
            database_statements,
            orphan_database_objects,
            phases: RwLock::default(),
            exported: Mutex::default(),
        }
    }

    pub fn observe_reconcile(&self, took: Duration, success: bool) {
        let result = if success { "success" } else { "error" };
        self.reconciles
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Reconciles finished so far, whatever their result.
    pub fn reconciles_finished(&self) -> u64 {
        ["success", "error"]
            .into_iter()
            .map(|result| {
                self.reconciles
                    .get_or_create(&ResultLabel {
                        result: result.into(),
                    })
                    .get()
            })
            .sum()
    }

    pub fn queue_depth(&self, depth: i64) {
        self.queue_depth.set(depth);
    }

    pub fn orphan_database_objects(&self, count: i64) {
        self.orphan_database_objects.set(count);
    }

    pub fn set_phase(&self, tenant: &str, phase: Phase) {
        self.phases
            .write()
            .expect("never poisoned")
            .insert(tenant.to_owned(), phase);
    }

    pub fn forget_tenant(&self, tenant: &str) {
        self.phases.write().expect("never poisoned").remove(tenant);
    }

    /// The text exposition, with call counters brought up to date first.
    pub fn render(&self, engine: &EngineCallStats, database: &DbCallStats) -> String {
        {
            let mut exported = self.exported.lock().expect("never poisoned");
            for (operation, count) in &engine.by_operation {
                let before = exported.0.by_operation.get(operation).copied().unwrap_or(0);
                self.docker_calls
                    .get_or_create(&OperationLabel {
                        operation: (*operation).to_owned(),
                    })
                    .inc_by(count.saturating_sub(before));
            }
            for (kind, now, before) in [
                ("read", database.reads, exported.1.reads),
                ("write", database.writes, exported.1.writes),
            ] {
                self.database_statements
                    .get_or_create(&KindLabel { kind: kind.into() })
                    .inc_by(now.saturating_sub(before));
            }
            *exported = (engine.clone(), *database);
        }
        let mut counts: HashMap<Phase, i64> = Phase::ALL.iter().map(|p| (*p, 0)).collect();
        for phase in self.phases.read().expect("never poisoned").values() {
            *counts.entry(*phase).or_default() += 1;
        }
        for (phase, count) in counts {
            self.tenants
                .get_or_create(&PhaseLabel {
                    phase: phase.as_str().into(),
                })
                .set(count);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
