//! For judges that score one item at a time asynchronously (sandbox runs): a bounded number of
//! items in flight, each timed, results in item order.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use judge_api::Item;
use tokio::sync::Semaphore;

use super::Judgement;

/// Runs `judge_one` on every item with at most `in_flight` running at once (so a large batch
/// keeps the sandbox busy without flooding its queue), setting each judgement's `micros`.
pub async fn judge_each<'a, F, Fut>(
    items: &'a [Arc<Item>],
    in_flight: usize,
    judge_one: F,
) -> Vec<Judgement>
where
    F: Fn(&'a Item) -> Fut,
    Fut: Future<Output = Judgement>,
{
    let slots = Semaphore::new(in_flight.max(1));
    let slots = &slots;
    let judge_one = &judge_one;
    let runs = items.iter().map(|item| async move {
        let _slot = slots.acquire().await;
        let started = Instant::now();
        let mut judgement = judge_one(item).await;
        judgement.micros = started.elapsed().as_micros() as u64;
        judgement
    });
    futures_util::future::join_all(runs).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn keeps_order_and_bounds_concurrency() {
        let items: Vec<Arc<Item>> = (0..12)
            .map(|i| Arc::new(Item::new("p", i.to_string())))
            .collect();
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let judgements = judge_each(&items, 3, |item| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Judgement::pass(item.response.clone())
            }
        })
        .await;
        let reasons: Vec<String> = judgements.iter().map(|j| j.reason.clone()).collect();
        assert_eq!(reasons, (0..12).map(|i| i.to_string()).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert!(judgements.iter().all(|j| j.micros >= 5_000));
    }
}
