//! Bounded work: a deterministic step meter and the size limits applied to every verification.

use serde::{Deserialize, Serialize};

/// Work limits for one `verify` call. Exceeding any of them yields `Outcome::Unverifiable`.
///
/// The limit on work is a deterministic step count rather than a wall-clock time, so that a
/// verdict never depends on machine load. One step is roughly one arithmetic operation on a
/// machine word: big-integer operations are charged by the size of their operands, every
/// floating-point evaluation of a node costs one step, every parsed token costs one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    /// Longest extracted answer (and gold answer) accepted, in bytes. Default 2,048.
    pub max_answer_bytes: usize,
    /// Most expression-tree nodes one answer may parse to (after `\pm` expansion). Default 2,000.
    pub max_nodes: usize,
    /// Most work steps for one verification. Default 2,000,000 (a few milliseconds).
    pub max_steps: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_answer_bytes: 2048,
            max_nodes: 2000,
            max_steps: 2_000_000,
        }
    }
}

/// Largest exact big integer (in bits) any intermediate result may have.
pub(crate) const MAX_BITS: u64 = 1 << 18;
/// Largest `n` for which `n!` is computed exactly.
pub(crate) const MAX_FACTORIAL: u64 = 5000;
/// Deepest bracket / operator nesting the parser accepts (also for sets / tuples nesting).
pub(crate) const MAX_DEPTH: usize = 64;
/// Deepest nesting of answer structures (a set in a tuple in a tuple ...).
pub(crate) const MAX_NESTING: usize = 16;
/// Deepest expression tree accepted (a chain `a + b + c + ...` is as deep as it is long).
/// Evaluation recurses over the tree, so this bounds stack use.
pub(crate) const MAX_TREE_DEPTH: usize = 100;

/// Why a computation stopped: the verification cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Stop {
    #[error("work budget exceeded ({0})")]
    Budget(String),
    #[error("unparsable: {0}")]
    Parse(String),
    #[error("undefined value: {0}")]
    Undefined(String),
}

pub(crate) type Res<T> = Result<T, Stop>;

/// Counts work steps against the budget.
#[derive(Debug)]
pub(crate) struct Meter {
    used: u64,
    limit: u64,
    pub(crate) max_nodes: usize,
    nesting: usize,
}

impl Meter {
    pub(crate) fn new(budget: &Budget) -> Self {
        Meter {
            used: 0,
            limit: budget.max_steps,
            max_nodes: budget.max_nodes,
            nesting: 0,
        }
    }

    /// Enters one level of answer structure (set in tuple in ...); fails past `MAX_NESTING`.
    pub(crate) fn nest(&mut self) -> Res<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(Stop::Budget(format!(
                "answer structure nested deeper than {MAX_NESTING}"
            )));
        }
        Ok(())
    }

    pub(crate) fn unnest(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    /// Charges `n` steps; fails once the budget is spent.
    pub(crate) fn charge(&mut self, n: u64) -> Res<()> {
        self.used = self.used.saturating_add(n);
        if self.used > self.limit {
            Err(Stop::Budget(format!("more than {} steps", self.limit)))
        } else {
            Ok(())
        }
    }

    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_stops_past_limit() {
        let mut m = Meter::new(&Budget {
            max_steps: 10,
            ..Budget::default()
        });
        assert!(m.charge(10).is_ok());
        assert_eq!(m.used(), 10);
        assert!(matches!(m.charge(1), Err(Stop::Budget(_))));
    }

    #[test]
    fn meter_saturates() {
        let mut m = Meter::new(&Budget::default());
        assert!(m.charge(u64::MAX).is_err());
        assert!(m.charge(u64::MAX).is_err());
    }
}
