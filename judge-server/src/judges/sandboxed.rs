//! Shared by the judge kinds that run in the sandbox (code, python, plugin): their limits checked
//! against the sandbox's ceilings, and items judged one at a time with a bounded number in flight.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use judge_api::Item;
use tokio::sync::Semaphore;

use super::{ConfigError, JudgeContext, Judgement};

/// Checks a judge's run limits against `sandbox.max_*` (when a sandbox runs in this process),
/// naming the offending `config.<field>`.
pub fn check_limits(
    context: &JudgeContext,
    timeout_ms: u64,
    memory_mb: usize,
    output_bytes: usize,
) -> Result<(), ConfigError> {
    let Some(sandbox) = &context.sandbox else {
        return Ok(());
    };
    let ceilings = sandbox.limits();
    for (field, value, max) in [
        ("timeout_ms", timeout_ms, ceilings.max_timeout_ms),
        ("memory_mb", memory_mb as u64, ceilings.max_memory_mb as u64),
        (
            "output_bytes",
            output_bytes as u64,
            ceilings.max_output_bytes as u64,
        ),
    ] {
        if value > max {
            return Err(ConfigError {
                field: format!("config.{field}"),
                message: format!("at most sandbox.max_{field} = {max}"),
            });
        }
    }
    Ok(())
}

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
