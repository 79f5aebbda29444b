//! The sandbox's run queue, fair between batches: every run belongs to a lane (the batch that
//! asked for it, `LANE`), and the workers take one run from each waiting lane in turn, so a
//! one-item request waits for at most one run of each other batch, however large those are.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};

tokio::task_local! {
    /// The lane of the runs this task submits (set per batch by `scoring.rs`; runs submitted
    /// outside any lane share lane 0).
    pub static LANE: u64;
}

/// The lane of the current task.
pub fn current_lane() -> u64 {
    LANE.try_with(|lane| *lane).unwrap_or(0)
}

pub struct FairQueue<T> {
    state: Mutex<Lanes<T>>,
    ready: Condvar,
    capacity: usize,
}

struct Lanes<T> {
    /// Lanes with waiting runs, in the order they are served.
    order: VecDeque<u64>,
    waiting: HashMap<u64, VecDeque<T>>,
    total: usize,
    closed: bool,
}

impl<T> FairQueue<T> {
    pub fn new(capacity: usize) -> FairQueue<T> {
        FairQueue {
            state: Mutex::new(Lanes {
                order: VecDeque::new(),
                waiting: HashMap::new(),
                total: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            capacity,
        }
    }

    /// Queues `job` in `lane`; gives it back when `capacity` runs are already waiting.
    pub fn push(&self, lane: u64, job: T) -> Result<(), T> {
        let mut state = self.state.lock().expect("not poisoned");
        if state.total >= self.capacity || state.closed {
            return Err(job);
        }
        let queue = state.waiting.entry(lane).or_default();
        queue.push_back(job);
        if queue.len() == 1 {
            state.order.push_back(lane);
        }
        state.total += 1;
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// The next run, taking lanes in turn; blocks while none waits; `None` once closed.
    pub fn pop(&self) -> Option<T> {
        let mut state = self.state.lock().expect("not poisoned");
        loop {
            if state.closed {
                return None;
            }
            if let Some(lane) = state.order.pop_front() {
                let queue = state.waiting.get_mut(&lane).expect("ordered lanes wait");
                let job = queue.pop_front().expect("ordered lanes are not empty");
                if queue.is_empty() {
                    state.waiting.remove(&lane);
                } else {
                    state.order.push_back(lane);
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
        state.waiting.clear();
        state.total = 0;
        drop(state);
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_take_turns_and_capacity_is_shared() {
        let queue = FairQueue::new(5);
        for job in 0..3 {
            queue.push(1, ("flood", job)).unwrap();
        }
        queue.push(2, ("single", 0)).unwrap();
        queue.push(1, ("flood", 3)).unwrap();
        assert_eq!(queue.push(3, ("late", 0)), Err(("late", 0)), "full");
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
        queue.push(3, ("late", 0)).unwrap();
        assert_eq!(queue.pop(), Some(("late", 0)));
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
        assert!(queue.push(0, 1).is_err());
    }
}
