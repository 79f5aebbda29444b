//! Backpressure: at most `max_concurrent_batches` batches are scored at once and at most
//! `max_queued_batches` wait for a slot. Past that, or after `queue_timeout_ms` of waiting,
//! a request is refused (503 with Retry-After) instead of piling up memory.
//!
//! Fairness: small batches (at most `small_batch_items` items) have slots of their own
//! (`max_concurrent_small_batches`), so a flood of big batches that holds every ordinary slot
//! does not refuse someone's one-item request. A freed slot goes to the waiting client that
//! holds the fewest slots (the longest-waiting of those first), not to whoever queued first:
//! a client with a hundred batches waiting does not push another client's one batch behind
//! them. Once admitted, runs take turns per client in the sandbox queue (`sandbox/queue.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::client::ClientId;
use crate::config::Limits;
use crate::metrics::Metrics;

pub struct Admission {
    slots: Arc<FairSlots>,
    small_slots: Arc<FairSlots>,
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
    _slot: Slot,
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
            slots: FairSlots::new(limits.max_concurrent_batches),
            small_slots: FairSlots::new(limits.max_concurrent_small_batches),
            small_batch_items: limits.small_batch_items,
            waiting: AtomicUsize::new(0),
            max_waiting: limits.max_queued_batches,
            wait_timeout: Duration::from_millis(limits.queue_timeout_ms),
            metrics,
        }
    }

    /// A slot for `client`'s batch of `items` items.
    pub async fn admit(&self, items: usize, client: ClientId) -> Result<Permit, Busy> {
        let slots = if items <= self.small_batch_items {
            &self.small_slots
        } else {
            &self.slots
        };
        let slot = match slots.try_take(client) {
            Ok(slot) => slot,
            Err(waiter) => self.wait(waiter).await?,
        };
        self.metrics.batches_in_flight.inc();
        Ok(Permit {
            _slot: slot,
            metrics: Arc::clone(&self.metrics),
        })
    }

    /// Waits in line (bounded by `max_queued_batches` and `queue_timeout_ms`).
    async fn wait(&self, waiter: Waiter) -> Result<Slot, Busy> {
        let position = self.waiting.fetch_add(1, Ordering::SeqCst);
        if position >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            self.metrics.rejected_busy.inc();
            return Err(Busy::QueueFull);
        }
        self.metrics.queue_depth.inc();
        let waited = tokio::time::timeout(self.wait_timeout, waiter.slot()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.metrics.queue_depth.dec();
        waited.map_err(|_| {
            self.metrics.rejected_busy.inc();
            Busy::WaitedTooLong
        })
    }
}

/// A pool of slots shared out between clients: a freed slot goes to the waiting client holding
/// the fewest, ties to the one served least recently (then the earliest waiter).
struct FairSlots {
    state: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    free: usize,
    held: HashMap<ClientId, usize>,
    /// When each client holding or waiting for a slot last got one (`clock` ticks).
    last_served: HashMap<ClientId, u64>,
    clock: u64,
    /// Per client, its waiters in arrival order (ticket, where to send the slot).
    waiting: HashMap<ClientId, VecDeque<(u64, oneshot::Sender<Slot>)>>,
    next_ticket: u64,
}

/// A held slot; given back (to the next waiter, or the pool) on drop.
struct Slot {
    pool: Arc<FairSlots>,
    client: ClientId,
    /// False for a slot that was never delivered (its waiter had gone): nothing to give back.
    held: bool,
}

/// A place in line; leaving it (dropping, e.g. at the timeout or when the client hangs up)
/// takes the place out of the line.
struct Waiter {
    pool: Arc<FairSlots>,
    client: ClientId,
    ticket: u64,
    slot: oneshot::Receiver<Slot>,
}

impl FairSlots {
    fn new(slots: usize) -> Arc<FairSlots> {
        Arc::new(FairSlots {
            state: Mutex::new(SlotState {
                free: slots,
                ..SlotState::default()
            }),
        })
    }

    /// A slot now, or a place in line.
    fn try_take(self: &Arc<Self>, client: ClientId) -> Result<Slot, Waiter> {
        let mut state = self.state.lock().expect("not poisoned");
        if state.free > 0 {
            state.free -= 1;
            state.grant(client);
            return Ok(self.slot_for(client));
        }
        let (send, slot) = oneshot::channel();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state
            .waiting
            .entry(client)
            .or_default()
            .push_back((ticket, send));
        Err(Waiter {
            pool: Arc::clone(self),
            client,
            ticket,
            slot,
        })
    }

    fn slot_for(self: &Arc<Self>, client: ClientId) -> Slot {
        Slot {
            pool: Arc::clone(self),
            client,
            held: true,
        }
    }

    /// `client` gives a slot back: it goes to the fairest waiter, or to the pool.
    fn give_back(self: &Arc<Self>, client: ClientId) {
        let mut state = self.state.lock().expect("not poisoned");
        state.release(client);
        while let Some((next, send)) = state.next_waiter() {
            state.grant(next);
            match send.send(self.slot_for(next)) {
                Ok(()) => return,
                // That waiter is gone (between its timeout and taking itself out of line).
                Err(mut undelivered) => {
                    undelivered.held = false;
                    state.release(next);
                }
            }
        }
        state.free += 1;
    }
}

impl SlotState {
    fn grant(&mut self, client: ClientId) {
        *self.held.entry(client).or_default() += 1;
        self.clock += 1;
        self.last_served.insert(client, self.clock);
    }

    /// Forgets clients that neither hold nor wait (the maps stay as small as the clients now).
    fn release(&mut self, client: ClientId) {
        if let Some(count) = self.held.get_mut(&client) {
            *count -= 1;
            if *count == 0 {
                self.held.remove(&client);
            }
        }
        self.forget_if_idle(client);
    }

    fn forget_if_idle(&mut self, client: ClientId) {
        if !self.held.contains_key(&client) && !self.waiting.contains_key(&client) {
            self.last_served.remove(&client);
        }
    }

    /// Takes the first waiter of the waiting client that holds the fewest slots.
    fn next_waiter(&mut self) -> Option<(ClientId, oneshot::Sender<Slot>)> {
        let client = self
            .waiting
            .iter()
            .map(|(client, line)| {
                let held = self.held.get(client).copied().unwrap_or(0);
                let served = self.last_served.get(client).copied().unwrap_or(0);
                let first = line.front().map_or(u64::MAX, |(ticket, _)| *ticket);
                (held, served, first, *client)
            })
            .min()
            .map(|(_, _, _, client)| client)?;
        let line = self.waiting.get_mut(&client).expect("just found");
        let (_, send) = line.pop_front().expect("lines are not empty");
        if line.is_empty() {
            self.waiting.remove(&client);
        }
        Some((client, send))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.held {
            self.pool.give_back(self.client);
        }
    }
}

impl Waiter {
    async fn slot(mut self) -> Slot {
        (&mut self.slot)
            .await
            .expect("the pool outlives its waiters' senders")
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut state = self.pool.state.lock().expect("not poisoned");
        if let Some(line) = state.waiting.get_mut(&self.client) {
            line.retain(|(ticket, _)| *ticket != self.ticket);
            if line.is_empty() {
                state.waiting.remove(&self.client);
            }
        }
        state.forget_if_idle(self.client);
        drop(state);
        // A slot sent just before the waiter left is dropped with the receiver (after this),
        // which gives it back.
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
        let held = admission.admit(100, ClientId::INTERNAL).await.unwrap();
        assert_eq!(
            admission.admit(100, ClientId::INTERNAL).await.err(),
            Some(Busy::QueueFull)
        );
        drop(held);
        assert!(admission.admit(100, ClientId::INTERNAL).await.is_ok());
    }

    #[tokio::test]
    async fn waiting_batches_get_a_slot_or_time_out() {
        let admission = Arc::new(admission(1, 4, 50));
        let held = admission.admit(100, ClientId::INTERNAL).await.unwrap();
        assert_eq!(
            admission.admit(100, ClientId::INTERNAL).await.err(),
            Some(Busy::WaitedTooLong)
        );
        let waiter = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.admit(100, ClientId::INTERNAL).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(held);
        assert!(waiter.await.unwrap());
    }

    #[tokio::test]
    async fn big_batches_never_hold_the_slots_of_small_ones() {
        let admission = admission(1, 0, 50);
        let _big = admission.admit(100, ClientId::INTERNAL).await.unwrap();
        assert_eq!(
            admission.admit(100, ClientId::INTERNAL).await.err(),
            Some(Busy::QueueFull)
        );
        let small = admission.admit(1, ClientId::INTERNAL).await;
        assert!(small.is_ok(), "a one-item batch has its own slot");
    }

    /// The order in which waiters of `clients` (in arrival order) get the only slot.
    async fn order_served(clients: &[u64]) -> Vec<u64> {
        let admission = Arc::new(admission(1, 64, 10_000));
        let (served, mut order) = tokio::sync::mpsc::unbounded_channel();
        let held = admission.admit(100, ClientId::numbered(1)).await.unwrap();
        let mut waiters = Vec::new();
        for &client in clients {
            let admission = Arc::clone(&admission);
            let served = served.clone();
            waiters.push(tokio::spawn(async move {
                let permit = admission
                    .admit(100, ClientId::numbered(client))
                    .await
                    .unwrap();
                served.send(client).unwrap();
                tokio::task::yield_now().await;
                drop(permit);
            }));
            // Queued in this order.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        drop(served);
        let mut seen = Vec::new();
        while let Some(client) = order.recv().await {
            seen.push(client);
        }
        seen
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_client_holding_fewest_not_to_the_first_in_line() {
        // Client 1 holds the slot and queues five more batches; client 2 queues one after
        // them: it is served as soon as the slot frees, then 1 and 2 alternate.
        assert_eq!(
            order_served(&[1, 1, 1, 1, 1, 2, 3, 2]).await,
            [2, 3, 1, 2, 1, 1, 1, 1]
        );
    }

    #[tokio::test]
    async fn a_waiter_that_left_gives_its_place_and_any_slot_back() {
        let admission = Arc::new(admission(1, 8, 30));
        let held = admission.admit(100, ClientId::numbered(1)).await.unwrap();
        // Times out in line.
        assert_eq!(
            admission.admit(100, ClientId::numbered(2)).await.err(),
            Some(Busy::WaitedTooLong)
        );
        // Hangs up while waiting.
        let gone = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.admit(100, ClientId::numbered(3)).await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        gone.abort();
        let _ = gone.await;
        drop(held);
        // Nobody is left in line: the slot is free again, not lost to the ones who left.
        {
            let state = admission.slots.state.lock().unwrap();
            assert!(state.waiting.is_empty() && state.last_served.is_empty());
        }
        let again = admission.admit(100, ClientId::numbered(4)).await;
        assert!(again.is_ok());
        assert_eq!(
            admission.admit(100, ClientId::numbered(4)).await.err(),
            Some(Busy::WaitedTooLong)
        );
    }
}
