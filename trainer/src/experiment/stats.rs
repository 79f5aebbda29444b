//! The report's uncertainty: 95 % intervals from a two-level bootstrap that resamples RL seeds
//! and held-out prompts (both vary: another seed trains another policy, another draw of the
//! held-out set tests it differently), and Student-t bands across seeds for the curves.
//!
//! Comparisons between two methods resample the prompts jointly (every method answered the
//! same prompts: a paired design) and each method's seeds on their own (seed `s` of one method
//! has nothing in common with seed `s` of another beyond the shared SFT start).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Held-out outcomes of one method (or of the SFT start): `by_task[t][seed][prompt]` is 1.0 for
/// a `pass`, 0.0 otherwise. Every seed of a task has the same prompts, in the same order.
#[derive(Clone, Debug, Default)]
pub struct Outcomes {
    pub by_task: Vec<Vec<Vec<f64>>>,
}

impl Outcomes {
    fn seeds(&self) -> usize {
        self.by_task.first().map_or(0, Vec::len)
    }

    /// Mean pass rate of task `t` over the chosen seeds and prompts.
    fn task_mean(&self, t: usize, seeds: &[usize], prompts: &[usize]) -> f64 {
        let rows = &self.by_task[t];
        let sum: f64 = seeds
            .iter()
            .map(|&s| prompts.iter().map(|&p| rows[s][p]).sum::<f64>())
            .sum();
        sum / (seeds.len() * prompts.len()).max(1) as f64
    }

    /// Per task, then the unweighted mean over tasks.
    fn means(&self, seeds: &[usize], prompts: &[Vec<usize>]) -> Vec<f64> {
        let mut out: Vec<f64> = (0..self.by_task.len())
            .map(|t| self.task_mean(t, seeds, &prompts[t]))
            .collect();
        out.push(out.iter().sum::<f64>() / out.len().max(1) as f64);
        out
    }

    fn prompts(&self) -> Vec<usize> {
        self.by_task
            .iter()
            .map(|seeds| seeds.first().map_or(0, Vec::len))
            .collect()
    }
}

/// A point estimate with its 95 % interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// Whether the interval excludes zero (for a difference: significant at the 5 % level).
    pub fn significant(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// Resamples per comparison; enough for stable 2.5 % / 97.5 % percentiles.
pub const ROUNDS: usize = 4000;

/// Pass rate of `a` (when `b` is `None`) or the difference `a - b`, per task and overall (the
/// last entry), with percentile intervals over `rounds` bootstrap resamples drawn from `seed`.
pub fn bootstrap(a: &Outcomes, b: Option<&Outcomes>, rounds: usize, seed: u64) -> Vec<Interval> {
    let prompts = a.prompts();
    let all_prompts: Vec<Vec<usize>> = prompts.iter().map(|&n| (0..n).collect()).collect();
    let statistic = |seeds_a: &[usize], seeds_b: &[usize], chosen: &[Vec<usize>]| {
        let mut values = a.means(seeds_a, chosen);
        if let Some(b) = b {
            for (v, w) in values.iter_mut().zip(b.means(seeds_b, chosen)) {
                *v -= w;
            }
        }
        values
    };
    let every = |o: &Outcomes| (0..o.seeds()).collect::<Vec<_>>();
    let b_seeds = b.map(every).unwrap_or_default();
    let estimate = statistic(&every(a), &b_seeds, &all_prompts);

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); estimate.len()];
    for _ in 0..rounds {
        let chosen: Vec<Vec<usize>> = prompts.iter().map(|&n| draw(&mut rng, n)).collect();
        let seeds_a = draw(&mut rng, a.seeds());
        let seeds_b = b.map(|b| draw(&mut rng, b.seeds())).unwrap_or_default();
        for (column, value) in draws.iter_mut().zip(statistic(&seeds_a, &seeds_b, &chosen)) {
            column.push(value);
        }
    }
    estimate
        .into_iter()
        .zip(draws)
        .map(|(estimate, mut column)| {
            column.sort_by(f64::total_cmp);
            Interval {
                estimate,
                low: percentile(&column, 0.025),
                high: percentile(&column, 0.975),
            }
        })
        .collect()
}

/// `n` indices drawn uniformly from `0..n` with replacement.
fn draw(rng: &mut ChaCha8Rng, n: usize) -> Vec<usize> {
    (0..n).map(|_| rng.random_range(0..n)).collect()
}

/// The `q` quantile of sorted `values` (nearest rank).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Mean and half-width of the 95 % Student-t interval of `values` (seeds); the half-width is
/// 0 for a single value.
pub fn t_interval(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, t_975(n - 1) * (var / n as f64).sqrt())
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom.
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => 1.96,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(rates: &[&[f64]], prompts: usize) -> Outcomes {
        // one task; each seed passes the first `rate * prompts` prompts
        let seeds = rates[0]
            .iter()
            .map(|r| {
                (0..prompts)
                    .map(|p| {
                        if (p as f64) < r * prompts as f64 {
                            1.0
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        Outcomes {
            by_task: vec![seeds],
        }
    }

    #[test]
    fn a_clear_difference_is_significant_and_noise_is_not() {
        let strong = outcomes(&[&[0.8, 0.75, 0.85, 0.8, 0.78]], 100);
        let weak = outcomes(&[&[0.4, 0.45, 0.35, 0.42, 0.38]], 100);
        let diff = bootstrap(&strong, Some(&weak), 2000, 1);
        assert_eq!(diff.len(), 2, "one task and the overall");
        assert!((diff[0].estimate - 0.396).abs() < 1e-9, "{:?}", diff[0]);
        assert!(diff[0].significant() && diff[1].significant());
        assert!(diff[0].low < diff[0].estimate && diff[0].estimate < diff[0].high);

        let same = outcomes(&[&[0.41, 0.39, 0.44, 0.36, 0.40]], 100);
        let diff = bootstrap(&same, Some(&weak), 2000, 1);
        assert!(!diff[0].significant(), "{:?}", diff[0]);
    }

    #[test]
    fn a_single_policy_interval_reflects_the_prompt_sample() {
        // 40 of 100 prompts pass: the binomial 95 % interval is about ±0.096
        let sft = outcomes(&[&[0.4]], 100);
        let rate = bootstrap(&sft, None, 4000, 3)[0];
        assert!((rate.estimate - 0.4).abs() < 1e-12);
        assert!(
            (rate.high - rate.low - 2.0 * 0.096).abs() < 0.03,
            "{rate:?}"
        );
    }

    #[test]
    fn t_intervals() {
        assert_eq!(t_interval(&[0.5]), (0.5, 0.0));
        let (mean, half) = t_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(mean, 3.0);
        // sd = 1.5811, n = 5, t(4) = 2.776
        assert!((half - 2.776 * 1.5811388 / 5f64.sqrt()).abs() < 1e-6);
        assert!(t_975(1000) == 1.96 && t_975(1) == 12.706);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.025), 3.0);
        assert_eq!(percentile(&v, 0.975), 98.0);
    }
}
