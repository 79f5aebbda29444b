//! Backpressure: at most `max_concurrent_batches` batches are scored at once and at most
//! `max_queued_batches` wait for a slot. Past that, or after `queue_timeout_ms` of waiting,
//! a request is refused (503 with Retry-After) instead of piling up memory.
//!
//! Fairness: small batches (at most `small_batch_items` items) have slots of their own
//! (`max_concurrent_small_batches`), so a flood of big batches that holds every ordinary slot
//! does not refuse someone's one-item request; once admitted, runs of all batches take turns in
//! the sandbox queue (`sandbox/queue.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;
use crate::metrics::Metrics;

pub struct Admission {
    slots: Arc<Semaphore>,
    small_slots: Arc<Semaphore>,
    small_batch_items: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    wait_timeout: Duration,
    metrics: Arc<Metrics>,
}

/// Why a batch was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    QueueFull,
    WaitedTooLong,
}

/// A scoring slot; released on drop.
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.metrics.batches_in_flight.dec();
    }
}

impl Admission {
    pub fn new(limits: &Limits, metrics: Arc<Metrics>) -> Admission {
        Admission {
            slots: Arc::new(Semaphore::new(limits.max_concurrent_batches)),
            small_slots: Arc::new(Semaphore::new(limits.max_concurrent_small_batches)),
            small_batch_items: limits.small_batch_items,
            waiting: AtomicUsize::new(0),
            max_waiting: limits.max_queued_batches,
            wait_timeout: Duration::from_millis(limits.queue_timeout_ms),
            metrics,
        }
    }

    /// A slot for a batch of `items` items.
    pub async fn admit(&self, items: usize) -> Result<Permit, Busy> {
        let slots = if items <= self.small_batch_items {
            &self.small_slots
        } else {
            &self.slots
        };
        let slot = match Arc::clone(slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                let position = self.waiting.fetch_add(1, Ordering::SeqCst);
                if position >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    self.metrics.rejected_busy.inc();
                    return Err(Busy::QueueFull);
                }
                self.metrics.queue_depth.inc();
                let waited =
                    tokio::time::timeout(self.wait_timeout, Arc::clone(slots).acquire_owned())
                        .await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                self.metrics.queue_depth.dec();
                match waited {
                    Ok(Ok(slot)) => slot,
                    _ => {
                        self.metrics.rejected_busy.inc();
                        return Err(Busy::WaitedTooLong);
                    }
                }
            }
        };
        self.metrics.batches_in_flight.inc();
        Ok(Permit {
            _slot: slot,
            metrics: Arc::clone(&self.metrics),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(concurrent: usize, queued: usize, timeout_ms: u64) -> Admission {
        let limits = Limits {
            max_concurrent_batches: concurrent,
            max_concurrent_small_batches: concurrent,
            small_batch_items: 1,
            max_queued_batches: queued,
            queue_timeout_ms: timeout_ms,
            ..Limits::default()
        };
        Admission::new(&limits, Arc::new(Metrics::new()))
    }

    #[tokio::test]
    async fn refuses_when_the_queue_is_full() {
        let admission = admission(1, 0, 1000);
        let held = admission.admit(100).await.unwrap();
        assert_eq!(admission.admit(100).await.err(), Some(Busy::QueueFull));
        drop(held);
        assert!(admission.admit(100).await.is_ok());
    }

    #[tokio::test]
    async fn waiting_batches_get_a_slot_or_time_out() {
        let admission = Arc::new(admission(1, 4, 50));
        let held = admission.admit(100).await.unwrap();
        assert_eq!(admission.admit(100).await.err(), Some(Busy::WaitedTooLong));
        let waiter = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.admit(100).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn big_batches_never_hold_the_slots_of_small_ones() {
        let admission = admission(1, 0, 50);
        let _big = admission.admit(100).await.unwrap();
        assert_eq!(admission.admit(100).await.err(), Some(Busy::QueueFull));
        let small = admission.admit(1).await;
        assert!(small.is_ok(), "a one-item batch has its own slot");
    }
}
