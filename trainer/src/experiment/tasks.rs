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
    /// `a - b` with `a` up to 20 and `b` a digit.
    Difference,
    /// Two two-digit numbers: answered without a worked count, the level a byte-level model
    /// of this size does not learn in the SFT budget.
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

/// A math problem: `a + b` or `a - b`.
struct Sum {
    a: i64,
    b: i64,
    minus: bool,
}

impl Sum {
    fn draw(level: MathLevel, rng: &mut ChaCha8Rng) -> Self {
        let (a, b, minus) = match level {
            MathLevel::Digits => (rng.random_range(1..=9), rng.random_range(1..=9), false),
            MathLevel::TensPlusDigit => (rng.random_range(10..=49), rng.random_range(1..=9), false),
            MathLevel::Difference => {
                let a = rng.random_range(5..=20);
                (a, rng.random_range(1..a.min(10)), true)
            }
            MathLevel::TwoDigit => (rng.random_range(10..=49), rng.random_range(10..=49), false),
        };
        Sum { a, b, minus }
    }

    fn op(&self) -> char {
        if self.minus { '-' } else { '+' }
    }

    /// What one step of the count adds.
    fn unit(&self) -> i64 {
        if self.minus { -1 } else { 1 }
    }

    fn value(&self) -> i64 {
        self.a + self.unit() * self.b
    }

    /// The worked count from `a`, one unit a step, each value with how many are still to go:
    /// `7+4: 8:3 9:2 10:1 11:0` (`steps` of them; the full count when `steps == b`).
    fn count(&self, steps: i64) -> String {
        let mut text = format!("{}{}{}:", self.a, self.op(), self.b);
        for i in 1..=steps {
            text.push_str(&format!(" {}:{}", self.a + self.unit() * i, self.b - i));
        }
        text
    }

    /// `a op b = answer`, stated without working (the hardest level's form).
    fn stated(&self, answer: i64) -> String {
        format!("{} {} {} = {answer}", self.a, self.op(), self.b)
    }
}

fn final_answer(working: &str, answer: i64) -> String {
    format!("{working}. The final answer is {answer}")
}

/// A math problem; its reference counts the answer out unit by unit (each step adds one and
/// says how many remain, which a small byte-level model can learn where it cannot learn an
/// addition table), except at the hardest level, which states the sum. The flawed response
/// stops the count a step early or misreads its end.
fn math(rng: &mut ChaCha8Rng) -> Synthetic {
    let level = MathLevel::of(rng.random());
    let sum = Sum::draw(level, rng);
    let c = sum.value();
    let (working, flawed) = match level {
        MathLevel::TwoDigit => {
            let wrong = c + [1, 2, -1, 10][rng.random_range(0..4)];
            (sum.stated(c), final_answer(&sum.stated(wrong), wrong))
        }
        _ if sum.b > 1 && rng.random_bool(0.5) => {
            let early = sum.a + sum.unit() * (sum.b - 1);
            (sum.count(sum.b), final_answer(&sum.count(sum.b - 1), early))
        }
        _ => {
            let wrong = c + [1, -1, 10][rng.random_range(0..3)];
            (sum.count(sum.b), final_answer(&sum.count(sum.b), wrong))
        }
    };
    let name = *NAMES.choose(rng).unwrap_or(&"Tom");
    let item = *ITEMS.choose(rng).unwrap_or(&"apples");
    let Sum { a, b, minus } = sum;
    let prompt = match (minus, rng.random_range(0..3)) {
        (false, 0) => format!("{name} has {a} {item} and gets {b} more. How many {item} now?"),
        (false, 1) => format!("What is {a} plus {b}?"),
        (false, _) => format!("A box has {a} {item} and another has {b}. How many {item} in all?"),
        (true, 0) => format!("{name} has {a} {item} and gives away {b}. How many {item} are left?"),
        (true, 1) => format!("What is {a} minus {b}?"),
        (true, _) => format!("There are {a} {item}. {name} takes {b}. How many {item} remain?"),
    };
    Synthetic {
        example: Example {
            prompt: PromptSpec::Text(prompt),
            reference: Some(final_answer(&working, c)),
            metadata: meta(json!({"answer": c.to_string(), "level": format!("{level:?}")})),
        },
        flawed,
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
    fn math_references_count_to_the_answer_within_the_generation_budget() {
        let math = generate(TaskKind::Math, 2000, 7);
        let mut early_stops = 0;
        for s in &math {
            let reference = s.example.reference.as_deref().unwrap();
            let answer = s.example.metadata["answer"].as_str().unwrap();
            assert!(reference.len() < 80, "{reference}");
            if s.example.metadata["level"] == "TwoDigit" {
                assert!(reference.contains(&format!(" = {answer}. ")), "{reference}");
                continue;
            }
            // the count's last value is the answer, with nothing left to go
            assert!(
                reference.ends_with(&format!(" {answer}:0. The final answer is {answer}")),
                "{reference}"
            );
            let (count, _) = s.flawed.split_once(". The final").unwrap();
            early_stops += usize::from(!count.ends_with(":0"));
        }
        assert!(early_stops > 200, "{early_stops} flawed counts stop early");
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
