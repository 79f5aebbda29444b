//! Per-minute budgets (requests, estimated tokens) as token buckets that refill continuously.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct Bucket {
    per_minute: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    pub fn per_minute(amount: u32) -> Bucket {
        let per_minute = f64::from(amount.max(1));
        Bucket {
            per_minute,
            state: Mutex::new((per_minute, Instant::now())),
        }
    }

    /// How long to wait before `amount` is available, taking it if it is available now.
    fn try_take(&self, available: &mut f64, last: &mut Instant, amount: f64) -> Option<Duration> {
        let now = Instant::now();
        let rate = self.per_minute / 60.0;
        *available =
            (*available + now.duration_since(*last).as_secs_f64() * rate).min(self.per_minute);
        *last = now;
        if *available >= amount {
            *available -= amount;
            None
        } else {
            Some(Duration::from_secs_f64((amount - *available) / rate))
        }
    }

    /// Waits until `amount` (capped at the whole budget) is available and takes it.
    pub async fn take(&self, amount: u64) {
        let amount = (amount as f64).min(self.per_minute);
        loop {
            let wait = {
                let mut state = self.state.lock().await;
                let (available, last) = &mut *state;
                match self.try_take(available, last, amount) {
                    None => return,
                    Some(wait) => wait,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On tokio's paused clock (time moves only when every task sleeps), so the figures are
    /// exact whatever else the machine is doing.
    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_waits_for_the_refill() {
        // 6000 a minute: 100 a second.
        let bucket = Bucket::per_minute(6000);
        let start = Instant::now();
        bucket.take(6000).await;
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "a full budget waits for nothing"
        );
        bucket.take(10).await;
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_millis(102),
            "{waited:?}"
        );
        // More than the whole budget is capped at it, so it still completes.
        let bucket = Bucket::per_minute(6000);
        bucket.take(1_000_000).await;
    }
}
