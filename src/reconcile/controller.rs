//! The controller runtime: merges triggers (spec NOTIFY, Docker events, periodic resync,
//! database drift, requeues) into the scheduler and runs reconciles on a bounded set of workers.
//!
//! # Guarantees
//! - At most one reconcile per tenant at a time, at most `concurrency` in parallel.
//! - Every tenant is reconciled at least once per (jittered) resync period, so a lost trigger
//!   costs latency, never correctness. A resync reads the store, and observes through the
//!   caches: Docker events keep the engine cache current, and it is replaced by a full
//!   relist every relist period and whenever the event stream broke (events may have been
//!   missed then), so a lost event costs at most one relist period.
//! - On shutdown no new reconcile starts; the ones in flight finish; then `run` returns.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use futures::{FutureExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::scheduler::{Backoff, Scheduler};
use super::{Context, Outcome, Snapshot, reconcile_from};
use crate::engine::EngineEvent;
use crate::store::{EventOutcome, WatchEvent, watch_tenants};

/// Tuning of the runtime.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    pub concurrency: usize,
    pub resync_period: Duration,
    pub relist_period: Duration,
    pub database_observe_period: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

/// Why the scheduler should look at tenants.
#[derive(Debug)]
enum Trigger {
    One(String),
    /// Everything: tenants in the store and names that only have containers (orphans).
    All,
}

pub struct Controller {
    ctx: Arc<Context>,
    config: ControllerConfig,
    ready: Arc<AtomicBool>,
}

impl Controller {
    pub fn new(ctx: Arc<Context>, config: ControllerConfig) -> Controller {
        Controller {
            ctx,
            config,
            ready: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Becomes true once the first observation of Docker and Postgres is complete.
    pub fn readiness(&self) -> Arc<AtomicBool> {
        self.ready.clone()
    }

    /// Runs until `shutdown` completes, then lets in-flight reconciles finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let ctx = self.ctx.clone();
        let events_since = chrono::Utc::now().timestamp();
        ctx.engine.relist().await?;
        ctx.database.refresh(&ctx.tenantdb).await?;
        self.ready.store(true, Ordering::SeqCst);
        tracing::info!("initial observation complete; reconciling");

        let (triggers, mut trigger_rx) = mpsc::unbounded_channel();
        let mut background = JoinSet::new();
        background.spawn(watch_store(ctx.clone(), triggers.clone()));
        background.spawn(watch_engine(ctx.clone(), events_since, triggers.clone()));
        background.spawn(resync(self.config.resync_period, triggers.clone()));
        background.spawn(relist(
            ctx.clone(),
            self.config.relist_period,
            triggers.clone(),
        ));
        background.spawn(observe_database(
            ctx.clone(),
            self.config.database_observe_period,
            triggers.clone(),
        ));
        let _ = triggers.send(Trigger::All);

        let mut scheduler = Scheduler::default();
        // The last resync's read of the store, entry by entry handed to the reconciles it
        // scheduled, unless a trigger for that tenant came first.
        let mut snapshot = Snapshot::default();
        let mut backoff = Backoff::new(self.config.backoff_base, self.config.backoff_max);
        let mut workers: JoinSet<(String, Result<Outcome, super::Error>, Duration)> =
            JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            ctx.metrics.queue_depth(scheduler.depth() as i64);
            let can_start = workers.len() < self.config.concurrency && scheduler.has_scheduled();
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(trigger) = trigger_rx.recv() => {
                    match trigger {
                        Trigger::One(name) => {
                            snapshot.forget(&name);
                            scheduler.schedule(&name, Duration::ZERO);
                        }
                        Trigger::All => match resync_read(&ctx).await {
                            Ok((read, names)) => {
                                snapshot = read;
                                for name in names {
                                    scheduler.schedule(&name, Duration::ZERO);
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot list tenants for a resync"),
                        },
                    }
                }
                Some(joined) = workers.join_next(), if !workers.is_empty() => {
                    let (name, result, took) = joined.expect("reconcile tasks catch their panics and are never aborted");
                    scheduler.finish(&name);
                    ctx.metrics.observe_reconcile(took, result.is_ok() && !matches!(result, Ok(Outcome::Failed(_))));
                    match result {
                        Ok(Outcome::Done | Outcome::Finalized) => backoff.succeeded(&name),
                        Ok(Outcome::RequeueAfter(delay)) => {
                            backoff.succeeded(&name);
                            scheduler.schedule(&name, delay);
                        }
                        Ok(Outcome::Failed(failure)) => {
                            let delay = backoff.failed(&name);
                            tracing::info!(tenant = %name, reason = failure.reason, retry_in = ?delay, "reconcile failed; backing off");
                            scheduler.schedule(&name, delay);
                        }
                        Err(e) => {
                            let delay = backoff.failed(&name);
                            tracing::warn!(tenant = %name, error = %e, retry_in = ?delay, "reconcile errored; backing off");
                            scheduler.schedule(&name, delay);
                        }
                    }
                }
                Some(name) = scheduler.next_due(), if can_start => {
                    let ctx = ctx.clone();
                    let prefetched = snapshot.take(&name);
                    workers.spawn(async move {
                        let started = Instant::now();
                        // A bug in one reconcile must not take the controller down with it.
                        let result = AssertUnwindSafe(reconcile_from(&ctx, &name, prefetched))
                            .catch_unwind()
                            .await
                            .unwrap_or_else(|panic| {
                                let message = panic
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                    .unwrap_or_default();
                                Err(super::Error::Panicked { message })
                            });
                        (name, result, started.elapsed())
                    });
                }
            }
        }
        tracing::info!(
            in_flight = workers.len(),
            "shutting down: finishing in-flight reconciles"
        );
        background.abort_all();
        while let Some(joined) = workers.join_next().await {
            if let Ok((name, Err(e), _)) = joined {
                tracing::warn!(tenant = %name, error = %e, "reconcile failed during shutdown");
            }
        }
        tracing::info!("controller stopped");
        Ok(())
    }
}

/// A resync's read: every tenant, and the names to reconcile (the tenants, and names that
/// only have containers, which are orphans).
async fn resync_read(ctx: &Context) -> anyhow::Result<(Snapshot, Vec<String>)> {
    let snapshot = Snapshot::load(&ctx.store).await?;
    let mut names = snapshot.names();
    names.extend(ctx.engine.tenants_with_containers());
    names.sort();
    names.dedup();
    Ok((snapshot, names))
}

async fn watch_store(ctx: Arc<Context>, triggers: mpsc::UnboundedSender<Trigger>) {
    let mut watch = Box::pin(watch_tenants(&ctx.store));
    while let Some(event) = watch.next().await {
        let trigger = match event {
            WatchEvent::Changed(name) => Trigger::One(name),
            WatchEvent::Resync => Trigger::All,
        };
        if triggers.send(trigger).is_err() {
            return;
        }
    }
}

async fn watch_engine(ctx: Arc<Context>, since: i64, triggers: mpsc::UnboundedSender<Trigger>) {
    let mut since = since;
    loop {
        {
            let mut events = Box::pin(ctx.engine.events(Some(since)));
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(e) => {
                        tracing::warn!(error = %e, "the Docker event stream broke; reconnecting");
                        break;
                    }
                };
                tracing::debug!(?event, "engine event");
                let trigger = match event {
                    EngineEvent::Container { id, tenant } => {
                        if let Err(e) = ctx.engine.refresh_container(&id).await {
                            tracing::warn!(error = %e, "cannot re-read a container after an event");
                        }
                        Some(Trigger::One(tenant))
                    }
                    EngineEvent::NetworkEndpoint { container_id } => {
                        match ctx.engine.refresh_container(&container_id).await {
                            Ok(Some(tenant)) => Some(Trigger::One(tenant)),
                            Ok(None) => None,
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot re-read a container after a network event");
                                None
                            }
                        }
                    }
                    EngineEvent::Network => {
                        if let Err(e) = ctx.engine.relist().await {
                            tracing::warn!(error = %e, "cannot relist after a network event");
                        }
                        Some(Trigger::All)
                    }
                    EngineEvent::Images => {
                        if let Err(e) = ctx.engine.refresh_images().await {
                            tracing::warn!(error = %e, "cannot re-read images after an image event");
                        }
                        Some(Trigger::All)
                    }
                };
                if let Some(trigger) = trigger
                    && triggers.send(trigger).is_err()
                {
                    return;
                }
            }
        }
        // Events were missed while the stream was down: relist and look at everything, and
        // subscribe again from before that relist.
        tokio::time::sleep(Duration::from_secs(1)).await;
        since = chrono::Utc::now().timestamp();
        if let Err(e) = ctx.engine.relist().await {
            tracing::warn!(error = %e, "cannot relist containers; will retry");
            continue;
        }
        if triggers.send(Trigger::All).is_err() {
            return;
        }
    }
}

/// The safety net: reconcile everything every period, from the caches, jittered by up to 10%
/// so that several tenantd processes (or a restart) do not line up. Like a kube-runtime or
/// client-go resync, it replays the cache rather than listing again: a pass over 1000 tenants
/// then costs two store queries, not the engine's listing of 1000 containers.
async fn resync(period: Duration, triggers: mpsc::UnboundedSender<Trigger>) {
    loop {
        tokio::time::sleep(jittered(period)).await;
        if triggers.send(Trigger::All).is_err() {
            return;
        }
    }
}

/// The safety net under the event stream: replace the engine cache with a full relist every
/// period (jittered), then reconcile everything against it.
async fn relist(ctx: Arc<Context>, period: Duration, triggers: mpsc::UnboundedSender<Trigger>) {
    loop {
        tokio::time::sleep(jittered(period)).await;
        if let Err(e) = ctx.engine.relist().await {
            tracing::warn!(error = %e, "periodic relist failed");
            continue;
        }
        if triggers.send(Trigger::All).is_err() {
            return;
        }
    }
}

/// `period` plus up to 10%.
fn jittered(period: Duration) -> Duration {
    period + period.mul_f64(rand::rng().random_range(0.0..0.1))
}

/// Postgres has no events for DDL: re-read the tenant schemas and roles periodically, and
/// reconcile when they changed. Orphans (objects without a tenant) are reported, never dropped.
async fn observe_database(
    ctx: Arc<Context>,
    period: Duration,
    triggers: mpsc::UnboundedSender<Trigger>,
) {
    let mut reported: HashSet<String> = HashSet::new();
    loop {
        tokio::time::sleep(period).await;
        match ctx.database.refresh(&ctx.tenantdb).await {
            Ok(true) => {
                if triggers.send(Trigger::All).is_err() {
                    return;
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot observe tenant databases");
                continue;
            }
        }
        report_orphans(&ctx, &mut reported).await;
    }
}

async fn report_orphans(ctx: &Context, reported: &mut HashSet<String>) {
    let known: HashSet<String> = match ctx.store.uids().await {
        Ok(uids) => uids.into_iter().collect(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list tenant uids to look for orphans");
            return;
        }
    };
    let orphans = ctx.database.orphans(&known);
    ctx.metrics.orphan_database_objects(orphans.len() as i64);
    for uid in orphans {
        if reported.insert(uid.clone()) {
            let schema = crate::tenantdb::schema_name(&uid).unwrap_or_else(|_| uid.clone());
            tracing::warn!(%uid, "database objects without a tenant; left in place for an operator");
            let _ = ctx
                .store
                .record_event(
                    &schema,
                    &uid,
                    "ReportOrphan",
                    EventOutcome::Warning,
                    "OrphanDatabaseObjects",
                    "a tenant schema or role exists without a tenant; tenantd never drops it on its own",
                )
                .await;
        }
    }
}
