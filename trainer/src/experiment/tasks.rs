//! The experiment's synthetic multi-task dataset (deterministic for a seed): arithmetic word
//! problems at four difficulties (math judge), sentences under IFEval constraints (ifeval
//! judge), and small Python functions with unit tests (code judge). Each example carries a
//! correct reference, a deliberately flawed response, and the metadata its judges need.
//!
//! Prompt spaces are large (thousands of distinct prompts per task) and [`splits`] keeps every
//! evaluation prompt out of the training prompts, so held-out really means unseen.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};
use std::collections::HashSet;

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

impl Synthetic {
    fn prompt_text(&self) -> &str {
        match &self.example.prompt {
            PromptSpec::Text(text) => text,
            PromptSpec::Messages(_) => "",
        }
    }
}

/// An infinite, deterministic stream of examples of `kind`.
pub fn stream(kind: TaskKind, seed: u64) -> impl Iterator<Item = Synthetic> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    std::iter::from_fn(move || {
        Some(match kind {
            TaskKind::Math => math(&mut rng),
            TaskKind::Instructions => instructions(&mut rng),
            TaskKind::Code => code(&mut rng),
        })
    })
}

/// The first `count` examples of the stream (prompts may repeat).
pub fn generate(kind: TaskKind, count: usize, seed: u64) -> Vec<Synthetic> {
    stream(kind, seed).take(count).collect()
}

/// Consecutive splits of the stream: the first takes the next `sizes[0]` examples; every later
/// split takes the next examples whose prompt no earlier split has and it has not taken yet
/// (evaluation prompts are distinct), until it has `sizes[i]`
/// (or `limit` examples of the stream have been drawn in all, so a small prompt space ends
/// with a shorter split instead of a loop).
pub fn splits(kind: TaskKind, seed: u64, sizes: &[usize], limit: usize) -> Vec<Vec<Synthetic>> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut examples = stream(kind, seed).take(limit);
    let mut out = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let mut split: Vec<Synthetic> = Vec::with_capacity(size);
        for s in examples.by_ref() {
            // Evaluation prompts are distinct and none is an earlier split's prompt.
            if i > 0 && !seen.insert(s.prompt_text().to_owned()) {
                continue;
            }
            split.push(s);
            if split.len() == size {
                break;
            }
        }
        if i == 0 {
            seen.extend(split.iter().map(|s| s.prompt_text().to_owned()));
        }
        out.push(split);
    }
    out
}

const NAMES: [&str; 12] = [
    "Tom", "Ana", "Li", "Sam", "Mia", "Raj", "Eva", "Ben", "Zoe", "Omar", "Ivy", "Leo",
];
const ITEMS: [&str; 10] = [
    "apples", "books", "coins", "pens", "cards", "shells", "stamps", "marbles", "cups", "keys",
];

/// The four difficulties of the math task, in increasing order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MathLevel {
    /// `a + b` with single digits.
    Digits,
    /// A two-digit number plus a digit.
    TensPlusDigit,
    /// `a - b` with `a` up to 20.
    Difference,
    /// Two two-digit numbers.
    TwoDigit,
}

impl MathLevel {
    /// The level of a draw `u` in [0, 1): 35 % / 25 % / 20 % / 20 %.
    fn of(u: f64) -> Self {
        match u {
            u if u < 0.35 => MathLevel::Digits,
            u if u < 0.60 => MathLevel::TensPlusDigit,
            u if u < 0.80 => MathLevel::Difference,
            _ => MathLevel::TwoDigit,
        }
    }
}

fn math(rng: &mut ChaCha8Rng) -> Synthetic {
    let level = MathLevel::of(rng.random());
    let (a, b, minus) = match level {
        MathLevel::Digits => (rng.random_range(1..=9), rng.random_range(1..=9), false),
        MathLevel::TensPlusDigit => (rng.random_range(10..=49), rng.random_range(1..=9), false),
        MathLevel::Difference => {
            let a = rng.random_range(5..=20);
            (a, rng.random_range(1..a), true)
        }
        MathLevel::TwoDigit => (rng.random_range(10..=49), rng.random_range(10..=49), false),
    };
    let (c, op) = if minus { (a - b, '-') } else { (a + b, '+') };
    let name = *NAMES.choose(rng).unwrap_or(&"Tom");
    let item = *ITEMS.choose(rng).unwrap_or(&"apples");
    let prompt = match (minus, rng.random_range(0..3)) {
        (false, 0) => format!("{name} has {a} {item} and gets {b} more. How many {item} now?"),
        (false, 1) => format!("What is {a} plus {b}?"),
        (false, _) => format!("A box has {a} {item} and another has {b}. How many {item} in all?"),
        (true, 0) => format!("{name} has {a} {item} and gives away {b}. How many {item} are left?"),
        (true, 1) => format!("What is {a} minus {b}?"),
        (true, _) => format!("There are {a} {item}. {name} takes {b}. How many {item} remain?"),
    };
    let wrong = c + [1, 2, -1, 10][rng.random_range(0..4)];
    Synthetic {
        example: Example {
            prompt: PromptSpec::Text(prompt),
            reference: Some(format!("{a} {op} {b} = {c}. The final answer is {c}")),
            metadata: meta(json!({"answer": c.to_string(), "level": format!("{level:?}")})),
        },
        flawed: format!("{a} {op} {b} = {wrong}. The final answer is {wrong}"),
    }
}

const TOPICS: [&str; 24] = [
    "the sea",
    "a cat",
    "rain",
    "the moon",
    "bread",
    "a train",
    "music",
    "snow",
    "a garden",
    "the wind",
    "a river",
    "coffee",
    "a forest",
    "the sky",
    "a city",
    "winter",
    "a dog",
    "the sun",
    "a lake",
    "tea",
    "a bird",
    "the night",
    "a hill",
    "summer",
];
const ADJECTIVES: [&str; 6] = ["calm", "quiet", "bright", "warm", "soft", "old"];
const END_PHRASES: [&str; 3] = ["Any questions?", "That is all.", "The end."];
const KEYWORDS: [&str; 4] = ["today", "always", "morning", "friend"];

/// A constraint: its wording, IFEval id and kwargs, and the reference and flawed responses
/// built from the plain sentence.
struct Constraint {
    wording: String,
    id: &'static str,
    kwargs: Value,
    reference: String,
    flawed: String,
}

fn instructions(rng: &mut ChaCha8Rng) -> Synthetic {
    let topic = *TOPICS.choose(rng).unwrap_or(&"rain");
    let adjective = *ADJECTIVES.choose(rng).unwrap_or(&"calm");
    // Long enough that IFEval's language check (langdetect) reads every lowercase and
    // uppercase form as English: "bread is quiet and i like it." is not.
    let sentence = format!("I think that {topic} is {adjective}.");
    let c = constraint(rng, &sentence);
    Synthetic {
        example: Example {
            prompt: PromptSpec::Text(format!(
                "Write one sentence saying that {topic} is {adjective}. {}",
                c.wording
            )),
            reference: Some(c.reference),
            metadata: meta(json!({"instruction_id_list": [c.id], "kwargs": [c.kwargs]})),
        },
        flawed: c.flawed,
    }
}

fn constraint(rng: &mut ChaCha8Rng, sentence: &str) -> Constraint {
    let capitalised = capitalise(sentence);
    let of = |wording: String, id, kwargs, reference: String, flawed: String| Constraint {
        wording,
        id,
        kwargs,
        reference,
        flawed,
    };
    match rng.random_range(0..7) {
        0 => of(
            "Use only lowercase letters.".into(),
            "change_case:english_lowercase",
            json!({}),
            sentence.to_lowercase(),
            capitalised,
        ),
        1 => of(
            "Use only capital letters.".into(),
            "change_case:english_capital",
            json!({}),
            sentence.to_uppercase(),
            capitalised,
        ),
        2 => of(
            "Do not use any commas.".into(),
            "punctuation:no_comma",
            json!({}),
            capitalised.clone(),
            capitalised.replacen(" that ", ", that ", 1),
        ),
        3 => {
            let phrase = *END_PHRASES.choose(rng).unwrap_or(&"The end.");
            of(
                format!("End with the phrase '{phrase}'"),
                "startend:end_checker",
                json!({"end_phrase": phrase}),
                format!("{capitalised} {phrase}"),
                capitalised,
            )
        }
        4 => of(
            "Wrap your whole answer in double quotation marks.".into(),
            "startend:quotation",
            json!({}),
            format!("\"{capitalised}\""),
            capitalised,
        ),
        5 => {
            let word = *KEYWORDS.choose(rng).unwrap_or(&"today");
            of(
                format!("Include the word '{word}'."),
                "keywords:existence",
                json!({"keywords": [word]}),
                format!("{} {word}.", capitalised.trim_end_matches('.')),
                capitalised,
            )
        }
        _ => of(
            "Add a postscript starting with P.S.".into(),
            "detectable_content:postscript",
            json!({"postscript_marker": "P.S."}),
            format!("{capitalised}\nP.S. I mean it."),
            capitalised,
        ),
    }
}

/// A one-argument function family: its description and Python body for a constant `k`, the
/// same function for the tests, and a typical bug.
struct Family {
    describe: fn(i64) -> String,
    body: fn(i64) -> String,
    apply: fn(i64, i64) -> i64,
    bug: fn(i64) -> String,
}

const FAMILIES: [Family; 8] = [
    Family {
        describe: |k| format!("x plus {k}"),
        body: |k| format!("x + {k}"),
        apply: |x, k| x + k,
        bug: |k| format!("x + {}", k + 1),
    },
    Family {
        describe: |k| format!("x minus {k}"),
        body: |k| format!("x - {k}"),
        apply: |x, k| x - k,
        bug: |k| format!("{k} - x"),
    },
    Family {
        describe: |k| format!("{k} times x"),
        body: |k| format!("x * {k}"),
        apply: |x, k| x * k,
        bug: |k| format!("x + {k}"),
    },
    Family {
        describe: |k| format!("x squared plus {k}"),
        body: |k| format!("x * x + {k}"),
        apply: |x, k| x * x + k,
        bug: |k| format!("x * 2 + {k}"),
    },
    Family {
        describe: |k| format!("the remainder of x divided by {k}"),
        body: |k| format!("x % {k}"),
        apply: |x, k| x.rem_euclid(k),
        bug: |k| format!("x // {k}"),
    },
    Family {
        describe: |k| format!("x divided by {k}, rounded down"),
        body: |k| format!("x // {k}"),
        apply: |x, k| x.div_euclid(k),
        bug: |k| format!("x % {k}"),
    },
    Family {
        describe: |k| format!("the larger of x and {k}"),
        body: |k| format!("max(x, {k})"),
        apply: |x, k| x.max(k),
        bug: |k| format!("min(x, {k})"),
    },
    Family {
        describe: |k| format!("the smaller of x and {k}"),
        body: |k| format!("min(x, {k})"),
        apply: |x, k| x.min(k),
        bug: |k| format!("max(x, {k})"),
    },
];

const FUNCTION_NAMES: [&str; 8] = ["f", "g", "h", "calc", "value", "solve", "step", "apply_k"];

fn code(rng: &mut ChaCha8Rng) -> Synthetic {
    let family = FAMILIES.choose(rng).unwrap_or(&FAMILIES[0]);
    let name = *FUNCTION_NAMES.choose(rng).unwrap_or(&"f");
    let k = rng.random_range(2..=9);
    // inputs either side of k, and k² + 1, where every family differs from its bug
    let inputs = [
        rng.random_range(0..k),
        rng.random_range(k + 1..=30),
        k * k + 1,
    ];
    let tests: Vec<String> = inputs
        .iter()
        .map(|&x| format!("assert {name}({x}) == {}", (family.apply)(x, k)))
        .collect();
    let program = |body: String| format!("```python\ndef {name}(x):\n    return {body}\n```");
    Synthetic {
        example: Example {
            prompt: PromptSpec::Text(format!(
                "Write a Python function {name}(x) that returns {}.",
                (family.describe)(k)
            )),
            reference: Some(program((family.body)(k))),
            metadata: meta(json!({"test_list": tests})),
        },
        flawed: program((family.bug)(k)),
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
            let a = generate(kind, 200, 3);
            let b = generate(kind, 200, 3);
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
            let distinct: HashSet<&str> = a.iter().map(|s| s.prompt_text()).collect();
            assert!(
                distinct.len() > 150,
                "{kind:?}: {} distinct prompts",
                distinct.len()
            );
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

    #[test]
    fn evaluation_prompts_are_never_training_prompts() {
        for kind in TaskKind::ALL {
            let parts = splits(kind, 1000, &[300, 100], 100_000);
            assert_eq!((parts[0].len(), parts[1].len()), (300, 100), "{kind:?}");
            let train: HashSet<&str> = parts[0].iter().map(|s| s.prompt_text()).collect();
            assert!(parts[1].iter().all(|s| !train.contains(s.prompt_text())));
            // the training split is the stream's prefix, as generate() gives it
            let prefix = generate(kind, 300, 1000);
            assert!(
                parts[0]
                    .iter()
                    .zip(&prefix)
                    .all(|(a, b)| a.example == b.example)
            );
        }
        // a prompt space smaller than asked for ends the split early instead of looping
        let short = splits(TaskKind::Code, 1, &[10, 5000], 20_000);
        assert!(short[1].len() < 5000);
    }

    #[test]
    fn every_math_level_occurs_and_code_tests_tell_the_bug_apart() {
        let math = generate(TaskKind::Math, 400, 5);
        for level in ["Digits", "TensPlusDigit", "Difference", "TwoDigit"] {
            let n = math
                .iter()
                .filter(|s| s.example.metadata["level"] == level)
                .count();
            assert!(n > 40, "{level}: {n}");
        }
        for family in &FAMILIES {
            for k in 2..=9 {
                let x = k * k + 1;
                let bug = python_eval(&(family.bug)(k), x);
                assert_ne!(
                    bug,
                    (family.apply)(x, k),
                    "{} with k = {k}",
                    (family.describe)(k)
                );
            }
        }
    }

    /// The bug expressions above, evaluated as Python would for x >= 0.
    fn python_eval(expression: &str, x: i64) -> i64 {
        let parts: Vec<&str> = expression
            .split([' ', '(', ')', ','])
            .filter(|p| !p.is_empty())
            .collect();
        let num = |s: &str| if s == "x" { x } else { s.parse().unwrap() };
        match parts.as_slice() {
            ["max", a, b] => num(a).max(num(b)),
            ["min", a, b] => num(a).min(num(b)),
            [a, "+", b] => num(a) + num(b),
            [a, "-", b] => num(a) - num(b),
            [a, "*", b] => num(a) * num(b),
            [a, "//", b] => num(a).div_euclid(num(b)),
            [a, "%", b] => num(a).rem_euclid(num(b)),
            [a, "*", b, "+", c] => num(a) * num(b) + num(c),
            other => panic!("unexpected {other:?}"),
        }
    }
}
