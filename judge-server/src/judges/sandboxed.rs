//! Shared by the judge kinds that run in the sandbox (code, python, plugin): the judge itself,
//! their limits checked against the sandbox's ceilings, and items judged one at a time with a
//! bounded number in flight.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use judge_api::Item;
use tokio::sync::Semaphore;

use super::{ConfigError, Fingerprint, JudgeContext, Judgement};
use crate::sandbox::{Language, Sandbox};

/// A judge whose items run in the sandbox: its fingerprint, its kind's config, and the sandbox
/// (`None` where this process runs none: every item is then an `error`).
pub struct Sandboxed<C> {
    pub fingerprint: Fingerprint,
    pub config: C,
    pub sandbox: Option<Arc<Sandbox>>,
}

impl<C> Sandboxed<C> {
    /// The sandbox, or an `error` for every item where this process runs none.
    pub fn sandbox_or_errors(&self, items: &[Arc<Item>]) -> Result<&Arc<Sandbox>, Vec<Judgement>> {
        self.sandbox
            .as_ref()
            .ok_or_else(|| all_errors(items, "the sandbox is not running in this process"))
    }

    /// The judge with `config`, using the sandbox of `context`.
    pub fn new(fingerprint: Fingerprint, config: C, context: &JudgeContext) -> Arc<Self> {
        Arc::new(Sandboxed {
            fingerprint,
            config,
            sandbox: context.sandbox.clone(),
        })
    }
}

/// The same `error` for every item.
pub fn all_errors(items: &[Arc<Item>], reason: &str) -> Vec<Judgement> {
    items.iter().map(|_| Judgement::error(reason)).collect()
}

/// The SHA-256 of the runtime that runs `language` here (in the fingerprint: another runtime
/// may judge differently); "none" where this process runs no sandbox or lacks the runtime.
pub fn runtime_sha256(context: &JudgeContext, language: Language) -> String {
    context
        .sandbox
        .as_ref()
        .and_then(|sandbox| sandbox.runtime_sha256(language))
        .unwrap_or_else(|| "none".to_owned())
}

/// A sandbox kind's run limits as its config gives them (`timeout_ms`, `memory_mb`,
/// `output_bytes`).
pub struct Limits {
    pub timeout_ms: u64,
    pub memory_mb: usize,
    pub output_bytes: usize,
}

impl Limits {
    pub fn new(timeout_ms: u64, memory_mb: usize, output_bytes: usize) -> Limits {
        Limits {
            timeout_ms,
            memory_mb,
            output_bytes,
        }
    }
}

/// The least a kind's runs need: memory for its interpreter, room for its report.
pub struct Floors {
    pub memory_mb: usize,
    pub output_bytes: usize,
}

impl Floors {
    pub fn new(memory_mb: usize, output_bytes: usize) -> Floors {
        Floors {
            memory_mb,
            output_bytes,
        }
    }
}

/// Checks a judge's run limits: at least 1 ms and `floors`, at most `sandbox.max_*` (when a
/// sandbox runs in this process); an error names the offending `config.<field>`.
pub fn check_limits(
    context: &JudgeContext,
    limits: &Limits,
    floors: Floors,
) -> Result<(), ConfigError> {
    let ceilings = context.sandbox.as_ref().map(|sandbox| sandbox.limits());
    let fields = [
        (
            "timeout_ms",
            limits.timeout_ms,
            1,
            ceilings.map(|c| c.max_timeout_ms),
        ),
        (
            "memory_mb",
            limits.memory_mb as u64,
            floors.memory_mb as u64,
            ceilings.map(|c| c.max_memory_mb as u64),
        ),
        (
            "output_bytes",
            limits.output_bytes as u64,
            floors.output_bytes as u64,
            ceilings.map(|c| c.max_output_bytes as u64),
        ),
    ];
    for (field, value, min, max) in fields {
        let message = if value < min {
            format!("must be at least {min}")
        } else if let Some(max) = max.filter(|max| value > *max) {
            format!("at most sandbox.max_{field} = {max}")
        } else {
            continue;
        };
        return Err(ConfigError {
            field: format!("config.{field}"),
            message,
        });
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
