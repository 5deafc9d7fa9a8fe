//! One queue per tenant name for this process's writers (API, web pages, the specs/ sync): a
//! writer that holds its tenant's place reads, decides and writes without another writer of
//! this process racing it.
//!
//! # Guarantees
//! - At most one [`QueuePlace`] per name exists at a time; the others wait in FIFO order
//!   (tokio's mutex is fair).
//! - Names nobody waits for are forgotten, so the map stays as large as the writes in flight.
//!
//! # Why
//! Correctness never depends on it: an apply is a compare-and-swap on `resourceVersion`, and a
//! writer in another process (or a delete mark) can still win, which the loser sees and decides
//! again on. The queue only keeps writers of one process from losing that race to each other:
//! under 64 connections writing 10 tenants, most optimistic writes raced one another and fell
//! back to the database-side queue, which holds a transaction open over four round trips.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::OwnedMutexGuard;

/// Above this many names, a new place sweeps out the names nobody holds or waits for.
const SWEEP_ABOVE: usize = 256;

/// The queues by tenant name.
#[derive(Default)]
pub struct WriteQueues {
    queues: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

/// A writer's turn for one tenant; the next writer's turn starts when it is dropped.
pub struct QueuePlace {
    _turn: OwnedMutexGuard<()>,
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
                    let queue = Arc::new(tokio::sync::Mutex::new(()));
                    queues.insert(name.to_owned(), Arc::downgrade(&queue));
                    queue
                }
            }
        };
        QueuePlace {
            _turn: queue.lock_owned().await,
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
