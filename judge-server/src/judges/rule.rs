//! Rule judges: synchronous, CPU-bound checks of one item at a time.
//!
//! They implement [`RuleJudge`]; [`on_blocking_pool`] turns one into a [`Judge`] that runs its
//! batches on tokio's blocking pool (split across cores for large batches), so a big batch
//! never stalls the async workers that serve other requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use judge_api::Item;

use super::{Fingerprint, InputError, Judge, Judgement};

/// Batches at least this large are split across the available cores.
const PARALLEL_THRESHOLD: usize = 64;

pub trait RuleJudge: Send + Sync + 'static {
    /// What the judge reads from an item's metadata (`()` for none).
    type Input;

    /// The item's input, or what is wrong with its metadata: the request's validation (a 422
    /// naming the field) and the judging read it through this one function.
    fn prepare(&self, item: &Item) -> Result<Self::Input, InputError>;

    /// Judges one item, given what `prepare` read from it. A judge whose work can explode
    /// (long responses, many instructions) asks `stop` in its loops and answers
    /// `Judgement::error` when it says to stop.
    fn judge(&self, item: &Item, input: Self::Input, stop: &Stop) -> Judgement;
}

/// Set when nobody waits for a batch any more (the request was dropped, or the judge's timeout
/// passed): rule judges on the blocking pool, which cannot be aborted, check it and stop.
#[derive(Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// The judgement of an item whose work was stopped (never cached; nobody reads it).
    pub fn stopped() -> Judgement {
        Judgement::error("stopped: the request was cancelled or the judge's timeout passed")
    }
}

/// Requests the stop when the batch's future is dropped.
struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.request();
    }
}

/// Wraps a rule judge as a [`Judge`] with `fingerprint` (its kind, version and config).
pub fn on_blocking_pool<R: RuleJudge>(fingerprint: Fingerprint, rule: R) -> Arc<dyn Judge> {
    Arc::new(BlockingJudge {
        fingerprint,
        rule: Arc::new(rule),
    })
}

struct BlockingJudge<R> {
    fingerprint: Fingerprint,
    rule: Arc<R>,
}

fn judge_timed<R: RuleJudge>(rule: &R, items: &[Arc<Item>], stop: &Stop) -> Vec<Judgement> {
    items
        .iter()
        .map(|item| {
            if stop.requested() {
                return Stop::stopped();
            }
            let start = Instant::now();
            let mut judgement = match rule.prepare(item) {
                Ok(input) => rule.judge(item, input, stop),
                // Requests are validated with `prepare` before judging: not reached from the API.
                Err(error) => Judgement::error(format!("{}: {}", error.field, error.message)),
            };
            judgement.micros = start.elapsed().as_micros() as u64;
            judgement
        })
        .collect()
}

#[async_trait]
impl<R: RuleJudge> Judge for BlockingJudge<R> {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    fn check_item(&self, item: &Item) -> Result<(), InputError> {
        self.rule.prepare(item).map(drop)
    }

    async fn judge_batch(&self, items: &[Arc<Item>]) -> Vec<Judgement> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunks = if items.len() >= PARALLEL_THRESHOLD {
            cores
        } else {
            1
        };
        let chunk_len = items.len().div_ceil(chunks).max(1);
        let stop = StopOnDrop(Stop::default());
        let tasks: Vec<_> = items
            .chunks(chunk_len)
            .map(|chunk| {
                let rule = Arc::clone(&self.rule);
                let chunk = chunk.to_vec();
                let stop = stop.0.clone();
                tokio::task::spawn_blocking(move || judge_timed(rule.as_ref(), &chunk, &stop))
            })
            .collect();
        let mut judgements = Vec::with_capacity(items.len());
        for (task, chunk) in tasks.into_iter().zip(items.chunks(chunk_len)) {
            match task.await {
                Ok(part) => judgements.extend(part),
                Err(join_error) => {
                    let reason = format!("judge crashed: {join_error}");
                    tracing::error!(kind = self.fingerprint.kind, %reason);
                    judgements.extend(chunk.iter().map(|_| Judgement::error(reason.clone())));
                }
            }
        }
        judgements
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Spins until told to stop, then says it saw the stop.
    struct Spins(Arc<AtomicBool>);

    impl RuleJudge for Spins {
        type Input = ();

        fn prepare(&self, _item: &Item) -> Result<(), InputError> {
            Ok(())
        }

        fn judge(&self, _item: &Item, (): (), stop: &Stop) -> Judgement {
            while !stop.requested() {
                std::hint::spin_loop();
            }
            self.0.store(true, Ordering::Relaxed);
            Stop::stopped()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rule_judge_stops_when_its_batch_is_dropped() {
        let saw_stop = Arc::new(AtomicBool::new(false));
        let judge = on_blocking_pool(
            Fingerprint::of("spins", 1, &()),
            Spins(Arc::clone(&saw_stop)),
        );
        let items = vec![Arc::new(Item::new("p", "r"))];
        // The judge's timeout passes (the future is dropped, as when a client hangs up).
        let timed_out =
            tokio::time::timeout(Duration::from_millis(50), judge.judge_batch(&items)).await;
        assert!(timed_out.is_err());
        for _ in 0..500 {
            if saw_stop.load(Ordering::Relaxed) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the blocking-pool judge kept running after its batch was dropped");
    }
}
