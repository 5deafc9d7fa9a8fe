//! A watch of tenant changes over LISTEN/NOTIFY.
//!
//! # Guarantees
//! - Every committed change to a tenant row yields `Changed(name)` while connected.
//! - A lost connection yields `Resync` once it is back, because notifications sent while it
//!   was down are lost; the consumer must then re-read everything (level-triggered).

use std::time::Duration;

use futures::Stream;
use sqlx::postgres::PgListener;

use super::Store;

/// What the watch saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// This tenant's row changed.
    Changed(String),
    /// Notifications may have been missed: treat every tenant as changed.
    Resync,
}

const CHANNEL: &str = "tenantd_tenants";

/// Listens until the stream is dropped, reconnecting (with a capped delay) when Postgres goes away.
pub fn watch_tenants(store: &Store) -> impl Stream<Item = WatchEvent> + Send + 'static {
    let pool = store.pool().clone();
    async_stream(pool)
}

fn async_stream(pool: sqlx::PgPool) -> impl Stream<Item = WatchEvent> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for tenant changes; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                    if tx.is_closed() {
                        return;
                    }
                    continue;
                }
            };
            if let Err(e) = listener.listen(CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                if tx.is_closed() {
                    return;
                }
                continue;
            }
            delay = Duration::from_millis(100);
            // Whatever happened before this LISTEN took effect is unknown to us.
            if tx.send(WatchEvent::Resync).await.is_err() {
                return;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        let name = notification.payload().to_owned();
                        if tx.send(WatchEvent::Changed(name)).await.is_err() {
                            return;
                        }
                    }
                    // The connection dropped; reconnect and resync.
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "tenant watch lost its connection");
                        break;
                    }
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
