//! One queue per tenant name for this process's writers (API, web pages, the specs/ sync): a
//! writer that holds its tenant's place reads, decides and writes without another writer of
//! this process racing it.
//!
//! # Guarantees
//! - At most one [`QueuePlace`] per name exists at a time; the others wait in FIFO order
//!   (tokio's mutex is fair).
//! - Names nobody waits for are forgotten, so the map stays as large as the writes in flight.
//! - A place carries the tenant as the previous writer of the queue stored it
//!   ([`QueuePlace::last_written`]) only while writers queue back to back: the row goes with
//!   the queue when nobody holds or waits for it. It is a guess, never a source of truth.
//!
//! # Why
//! Correctness never depends on it: an apply is a compare-and-swap on `resourceVersion`, and a
//! writer in another process (or a delete mark) can still win, which the loser sees and decides
//! again on. The queue only keeps writers of one process from losing that race to each other:
//! under 64 connections writing 10 tenants, most optimistic writes raced one another and fell
//! back to the database-side queue, which holds a transaction open over four round trips.
//! The remembered row lets the next writer in line decide without reading first (as
//! kube-apiserver's update starts from its watch cache's copy): one round trip per write
//! instead of two while a tenant's writers queue, which is when the wait is long. A guess
//! that is stale costs a missed compare-and-swap and the usual read, never a wrong write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

use crate::resource::Tenant;

/// Above this many names, a new place sweeps out the names nobody holds or waits for.
const SWEEP_ABOVE: usize = 256;

/// The queues by tenant name.
#[derive(Default)]
pub struct WriteQueues {
    queues: Mutex<HashMap<String, Weak<Queue>>>,
}

/// One name's queue: its turn, and the tenant as the last writer in it stored it.
type Queue = tokio::sync::Mutex<Option<Tenant>>;

/// A writer's turn for one tenant; the next writer's turn starts when it is dropped.
pub struct QueuePlace {
    turn: OwnedMutexGuard<Option<Tenant>>,
}

impl QueuePlace {
    /// The tenant as an earlier writer of this queue stored (or read) it, if writers have
    /// queued back to back since. Anything may have changed it since (another process, a
    /// delete mark), so decide on it only through a compare-and-swap.
    pub fn last_written(&self) -> Option<&Tenant> {
        self.turn.as_ref()
    }

    /// Leaves `stored`, the row as this writer wrote or read it, to the next writer in line.
    pub fn remember(&mut self, stored: &Tenant) {
        *self.turn = Some(stored.clone());
    }
}

impl WriteQueues {
    /// Waits for the turn to write `name`.
    pub async fn enter(&self, name: &str) -> QueuePlace {
        let queue = {
            let mut queues = self.queues.lock().expect("never poisoned");
            if queues.len() > SWEEP_ABOVE {
                queues.retain(|_, queue| queue.strong_count() > 0);
            }
            match queues.get(name).and_then(Weak::upgrade) {
                Some(queue) => queue,
                None => {
                    let queue = Arc::new(Queue::new(None));
                    queues.insert(name.to_owned(), Arc::downgrade(&queue));
                    queue
                }
            }
        };
        QueuePlace {
            turn: queue.lock_owned().await,
        }
    }

    /// How many names the map holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.queues.lock().expect("never poisoned").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{API_VERSION, KIND, ObjectMeta, TenantSpec};
    use std::time::Duration;

    #[tokio::test]
    async fn writers_of_one_name_take_turns_and_other_names_do_not_wait() {
        let queues = Arc::new(WriteQueues::default());
        let first = queues.enter("a").await;
        let waiting = tokio::spawn({
            let queues = queues.clone();
            async move {
                let _second = queues.enter("a").await;
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the second writer of a waits");
        // Another name is not held up by a.
        tokio::time::timeout(Duration::from_secs(1), queues.enter("b"))
            .await
            .expect("b does not wait for a");
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the second writer of a gets its turn once the first is done")
            .unwrap();
    }

    #[tokio::test]
    async fn the_next_writer_in_line_gets_the_row_and_a_drained_queue_forgets_it() {
        let queues = Arc::new(WriteQueues::default());
        let mut first = queues.enter("a").await;
        assert!(first.last_written().is_none(), "a new queue knows no row");
        let waiting = tokio::spawn({
            let queues = queues.clone();
            async move {
                let next = queues.enter("a").await;
                next.last_written().map(|t| t.metadata.name.clone())
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stored = Tenant {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            metadata: ObjectMeta {
                name: "a".into(),
                ..ObjectMeta::default()
            },
            spec: TenantSpec::default(),
            status: None,
        };
        first.remember(&stored);
        drop(first);
        let handed = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the waiting writer gets its turn")
            .unwrap();
        assert_eq!(
            handed.as_deref(),
            Some("a"),
            "the waiting writer sees the row"
        );
        let later = queues.enter("a").await;
        assert!(
            later.last_written().is_none(),
            "once nobody held or waited, the row went with the queue"
        );
    }

    #[tokio::test]
    async fn names_nobody_holds_are_swept_out() {
        let queues = WriteQueues::default();
        for i in 0..=SWEEP_ABOVE {
            drop(queues.enter(&format!("t{i}")).await);
        }
        let held = queues.enter("held").await;
        assert_eq!(
            queues.len(),
            1,
            "only the held name is left after the sweep"
        );
        drop(held);
    }
}
