//! The sandbox's run queue, fair between clients and between a client's batches: every run
//! belongs to a lane (the client and the batch that asked for it, `LANE`); the workers take
//! the clients that have runs waiting in turn, and each client's batches in turn, so a
//! one-item request waits for at most one run of each other client, however many batches
//! those have queued, and one client's big batch does not hold back its own small one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};

use crate::client::ClientId;

/// Whose run this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Lane {
    pub client: ClientId,
    pub batch: u64,
}

tokio::task_local! {
    /// The lane of the runs this task submits (set per batch by `scoring.rs` and per request
    /// by `/run_code`; runs submitted outside any share the default lane).
    pub static LANE: Lane;
}

/// The lane of the current task.
pub fn current_lane() -> Lane {
    LANE.try_with(|lane| *lane).unwrap_or_default()
}

/// A fresh batch of `client`'s.
pub fn new_batch(client: ClientId) -> Lane {
    use std::sync::atomic::{AtomicU64, Ordering};
    static BATCHES: AtomicU64 = AtomicU64::new(1);
    Lane {
        client,
        batch: BATCHES.fetch_add(1, Ordering::Relaxed),
    }
}

pub struct FairQueue<T> {
    state: Mutex<Lanes<T>>,
    ready: Condvar,
    capacity: usize,
}

struct Lanes<T> {
    /// Clients with waiting runs, in the order they are served.
    order: VecDeque<ClientId>,
    clients: HashMap<ClientId, Batches<T>>,
    total: usize,
    closed: bool,
}

/// One client's waiting runs.
struct Batches<T> {
    /// Batches with waiting runs, in the order they are served.
    order: VecDeque<u64>,
    waiting: HashMap<u64, VecDeque<T>>,
}

impl<T> Batches<T> {
    fn push(&mut self, batch: u64, job: T) {
        let queue = self.waiting.entry(batch).or_default();
        queue.push_back(job);
        if queue.len() == 1 {
            self.order.push_back(batch);
        }
    }

    /// The next batch's next run (the batch goes to the back of the line).
    fn pop(&mut self) -> Option<T> {
        let batch = self.order.pop_front()?;
        let queue = self.waiting.get_mut(&batch).expect("ordered batches wait");
        let job = queue.pop_front().expect("ordered batches are not empty");
        if queue.is_empty() {
            self.waiting.remove(&batch);
        } else {
            self.order.push_back(batch);
        }
        Some(job)
    }
}

impl<T> FairQueue<T> {
    pub fn new(capacity: usize) -> FairQueue<T> {
        FairQueue {
            state: Mutex::new(Lanes {
                order: VecDeque::new(),
                clients: HashMap::new(),
                total: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            capacity,
        }
    }

    /// Queues `job` in `lane`; gives it back when `capacity` runs are already waiting.
    pub fn push(&self, lane: Lane, job: T) -> Result<(), T> {
        let mut state = self.state.lock().expect("not poisoned");
        if state.total >= self.capacity || state.closed {
            return Err(job);
        }
        let client = state.clients.entry(lane.client).or_insert_with(|| Batches {
            order: VecDeque::new(),
            waiting: HashMap::new(),
        });
        let was_idle = client.order.is_empty();
        client.push(lane.batch, job);
        if was_idle {
            state.order.push_back(lane.client);
        }
        state.total += 1;
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// The next run, taking clients in turn (and each client's batches in turn); blocks while
    /// none waits; `None` once closed.
    pub fn pop(&self) -> Option<T> {
        let mut state = self.state.lock().expect("not poisoned");
        loop {
            if state.closed {
                return None;
            }
            if let Some(client) = state.order.pop_front() {
                let batches = state
                    .clients
                    .get_mut(&client)
                    .expect("ordered clients wait");
                let job = batches.pop().expect("ordered clients are not empty");
                if batches.order.is_empty() {
                    state.clients.remove(&client);
                } else {
                    state.order.push_back(client);
                }
                state.total -= 1;
                return Some(job);
            }
            state = self.ready.wait(state).expect("not poisoned");
        }
    }

    /// Runs waiting now.
    pub fn len(&self) -> usize {
        self.state.lock().expect("not poisoned").total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Wakes every worker and makes `pop` return `None` (runs still waiting are dropped, which
    /// answers their callers with an error).
    pub fn close(&self) {
        let mut state = self.state.lock().expect("not poisoned");
        state.closed = true;
        state.order.clear();
        state.clients.clear();
        state.total = 0;
        drop(state);
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(client: u64, batch: u64) -> Lane {
        Lane {
            client: ClientId::numbered(client),
            batch,
        }
    }

    #[test]
    fn lanes_take_turns_and_capacity_is_shared() {
        let queue = FairQueue::new(5);
        for job in 0..3 {
            queue.push(lane(1, 1), ("flood", job)).unwrap();
        }
        queue.push(lane(2, 2), ("single", 0)).unwrap();
        queue.push(lane(1, 1), ("flood", 3)).unwrap();
        assert_eq!(
            queue.push(lane(3, 3), ("late", 0)),
            Err(("late", 0)),
            "full"
        );
        // The single item runs second, not fifth.
        let order: Vec<_> = (0..5).map(|_| queue.pop().unwrap()).collect();
        assert_eq!(
            order,
            [
                ("flood", 0),
                ("single", 0),
                ("flood", 1),
                ("flood", 2),
                ("flood", 3)
            ]
        );
        queue.push(lane(3, 3), ("late", 0)).unwrap();
        assert_eq!(queue.pop(), Some(("late", 0)));
    }

    #[test]
    fn many_batches_of_one_client_count_as_one_client() {
        let queue = FairQueue::new(100);
        // Client 1 floods with ten batches of three runs; client 2 has one batch of two.
        for batch in 0..10 {
            for run in 0..3 {
                queue.push(lane(1, batch), (1, batch, run)).unwrap();
            }
        }
        queue.push(lane(2, 99), (2, 99, 0)).unwrap();
        queue.push(lane(2, 99), (2, 99, 1)).unwrap();
        let first: Vec<_> = (0..4).map(|_| queue.pop().unwrap()).collect();
        // Client 2's runs come every other turn (with per-batch lanes they would wait for
        // ten of client 1's runs each), and client 1's batches take turns among themselves.
        assert_eq!(first, [(1, 0, 0), (2, 99, 0), (1, 1, 0), (2, 99, 1)]);
        let rest: Vec<_> = (0..28).map(|_| queue.pop().unwrap()).collect();
        assert_eq!(
            &rest[..9],
            &(2..10)
                .map(|b| (1, b, 0))
                .chain([(1, 0, 1)])
                .collect::<Vec<_>>()[..]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn closing_wakes_blocked_workers() {
        let queue = std::sync::Arc::new(FairQueue::<u8>::new(1));
        let worker = {
            let queue = std::sync::Arc::clone(&queue);
            std::thread::spawn(move || queue.pop())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        queue.close();
        assert_eq!(worker.join().unwrap(), None);
        assert!(queue.push(Lane::default(), 1).is_err());
    }
}
