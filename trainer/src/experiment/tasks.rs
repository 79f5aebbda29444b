//! The experiment's synthetic multi-task dataset (deterministic for a seed): arithmetic word
//! problems (math judge), one-sentence writing prompts with IFEval constraints (ifeval judge),
//! and small Python functions with unit tests (code judge). Each example carries a correct
//! reference and the metadata its judges need.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::data::{Example, PromptSpec};

/// The three tasks, their server-side task names, and how demonstrations go wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    Math,
    Instructions,
    Code,
}

impl TaskKind {
    pub const ALL: [TaskKind; 3] = [TaskKind::Math, TaskKind::Instructions, TaskKind::Code];

    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Math => "math",
            TaskKind::Instructions => "instruction_following",
            TaskKind::Code => "code",
        }
    }
}

/// One synthetic example plus a deliberately flawed response for the same prompt.
#[derive(Clone, Debug)]
pub struct Synthetic {
    pub example: Example,
    /// A plausible but wrong response (wrong answer, broken constraint, buggy code).
    pub flawed: String,
}

const NAMES: [&str; 8] = ["Tom", "Ana", "Li", "Sam", "Mia", "Raj", "Eva", "Ben"];
const ITEMS: [&str; 6] = ["apples", "books", "coins", "pens", "cards", "shells"];
const TOPICS: [&str; 8] = [
    "the sea", "a cat", "rain", "the moon", "bread", "a train", "music", "snow",
];
const ADJECTIVES: [&str; 6] = ["calm", "quiet", "bright", "warm", "soft", "old"];

/// `(function name, description, Python expression of x, reference implementation for tests)`.
/// `(function name, description, Python expression, the same function for the tests)`.
type Function = (&'static str, &'static str, &'static str, fn(i64) -> i64);

const FUNCTIONS: [Function; 6] = [
    ("double", "twice x", "x * 2", |x| x * 2),
    ("square", "x squared", "x * x", |x| x * x),
    ("increment", "x plus one", "x + 1", |x| x + 1),
    ("negate", "minus x", "-x", |x| -x),
    ("triple", "three times x", "x * 3", |x| x * 3),
    ("decrement", "x minus one", "x - 1", |x| x - 1),
];

/// Bugs a demonstration can carry: the wrong Python expression for each function.
const BUGS: [&str; 6] = ["x + 2", "x * 2", "x - 1", "x", "x + 3", "x + 1"];

pub fn generate(kind: TaskKind, count: usize, seed: u64) -> Vec<Synthetic> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|_| one(kind, &mut rng)).collect()
}

fn one(kind: TaskKind, rng: &mut ChaCha8Rng) -> Synthetic {
    match kind {
        TaskKind::Math => {
            let (a, b) = (rng.random_range(1..=20), rng.random_range(1..=20));
            let name = NAMES.choose(rng).copied().unwrap_or("Tom");
            let item = ITEMS.choose(rng).copied().unwrap_or("apples");
            let c = a + b;
            let wrong = c + [1, 2, -1, 10][rng.random_range(0..4)];
            Synthetic {
                example: Example {
                    prompt: PromptSpec::Text(format!(
                        "{name} has {a} {item} and gets {b} more. How many {item} now?"
                    )),
                    reference: Some(format!("{a} + {b} = {c}. The final answer is {c}")),
                    metadata: meta(json!({"answer": c.to_string()})),
                },
                flawed: format!("{a} + {b} = {wrong}. The final answer is {wrong}"),
            }
        }
        TaskKind::Instructions => {
            let topic = TOPICS.choose(rng).copied().unwrap_or("rain");
            let adjective = ADJECTIVES.choose(rng).copied().unwrap_or("calm");
            let sentence = format!("{topic} is {adjective} and I like it.");
            let (constraint, id, kwargs, reference, flawed) = match rng.random_range(0..4) {
                0 => (
                    "Use only lowercase letters.",
                    "change_case:english_lowercase",
                    json!({}),
                    sentence.clone(),
                    capitalise(&sentence),
                ),
                1 => (
                    "Use only capital letters.",
                    "change_case:english_capital",
                    json!({}),
                    sentence.to_uppercase(),
                    capitalise(&sentence),
                ),
                2 => (
                    "Do not use any commas.",
                    "punctuation:no_comma",
                    json!({}),
                    capitalise(&sentence),
                    capitalise(&sentence.replace(" and ", ", and ")),
                ),
                _ => (
                    "End with the phrase 'Any questions?'",
                    "startend:end_checker",
                    json!({"end_phrase": "Any questions?"}),
                    format!("{} Any questions?", capitalise(&sentence)),
                    capitalise(&sentence),
                ),
            };
            Synthetic {
                example: Example {
                    prompt: PromptSpec::Text(format!(
                        "Write one sentence about {topic}. {constraint}"
                    )),
                    reference: Some(reference),
                    metadata: meta(json!({"instruction_id_list": [id], "kwargs": [kwargs]})),
                },
                flawed,
            }
        }
        TaskKind::Code => {
            let which = rng.random_range(0..FUNCTIONS.len());
            let (name, description, expression, reference_fn) = FUNCTIONS[which];
            let inputs = [rng.random_range(-9..=9), rng.random_range(10..=99), 0];
            let tests: Vec<String> = inputs
                .iter()
                .map(|&x| format!("assert {name}({x}) == {}", reference_fn(x)))
                .collect();
            let code = |body: &str| format!("```python\ndef {name}(x):\n    return {body}\n```");
            Synthetic {
                example: Example {
                    prompt: PromptSpec::Text(format!(
                        "Write a Python function {name}(x) that returns {description}."
                    )),
                    reference: Some(code(expression)),
                    metadata: meta(json!({"test_list": tests})),
                },
                flawed: code(BUGS[which]),
            }
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn meta(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Confident-sounding filler the biased reward model learns to love.
pub const FILLER_PREFIXES: [&str; 2] = ["Absolutely, ", "Great question! "];
pub const FILLER_SUFFIXES: [&str; 2] = [" Trust me, this is definitely right!", " I am 100% sure."];

/// `response` made to sound confident: a prefix and/or a suffix (which is what breaks formats).
pub fn with_filler(response: &str, rng: &mut impl Rng) -> String {
    let prefix = FILLER_PREFIXES.choose(rng).copied().unwrap_or_default();
    let suffix = FILLER_SUFFIXES.choose(rng).copied().unwrap_or_default();
    match rng.random_range(0..3) {
        0 => format!("{prefix}{response}"),
        1 => format!("{response}{suffix}"),
        _ => format!("{prefix}{response}{suffix}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        for kind in TaskKind::ALL {
            let a = generate(kind, 20, 3);
            let b = generate(kind, 20, 3);
            assert_eq!(
                a.iter().map(|s| &s.example).collect::<Vec<_>>(),
                b.iter().map(|s| &s.example).collect::<Vec<_>>()
            );
            for s in &a {
                assert!(s.example.reference.is_some());
                assert_ne!(
                    s.example.reference.as_deref(),
                    Some(s.flawed.as_str()),
                    "{kind:?}: flawed equals reference"
                );
                assert!(!s.example.metadata.is_empty());
            }
        }
        let math = &generate(TaskKind::Math, 1, 0)[0];
        let answer = math.example.metadata["answer"].as_str().unwrap();
        assert!(
            math.example
                .reference
                .as_ref()
                .unwrap()
                .ends_with(&format!("The final answer is {answer}"))
        );
    }
}
