//! The per-language harness interface, the report every harness writes, and the Python
//! harness.
//!
//! Adding a language: a sandbox `Language` (with its runtime and fetch script), a type that
//! implements `Harness` (see `javascript.rs`), and its arm in `harness_for` (`mod.rs`).
//!
//! Python runs an item's tests in two sandbox instances (`TestRun::Pair`): the solution alone
//! in one (`python_solution.py`), the test driver in a second, fresh one (`python_driver.py`),
//! where the solution's top-level functions and classes are proxies and every call crosses as
//! plain data through a strict decoder. The tests, their randomness, the comparison and the
//! report are where the solution cannot reach them: walking frames, `gc.get_objects()`,
//! patching `random` or `math.isclose`, `sys.settrace`, objects whose `__eq__` is always true
//! and `int` subclasses all find nothing to tamper with, or cannot cross. The driver writes its
//! report on its own stderr, tagged with a per-run nonce.
//!
//! JavaScript (`javascript.rs`) still runs the tests after the solution in one instance
//! (`TestRun::Single`), with the report written through references captured before the
//! solution runs; it does not yet have the two-instance design.

use serde_json::Value;

use super::spec::{TestSpec, calls_value};
use crate::sandbox::Language;

/// One run of an interpreter: its arguments after argv[0] and its stdin.
pub struct Invocation {
    pub args: Vec<String>,
    pub stdin: Vec<u8>,
}

/// What an assert- or call-style run is made of: the solution, its tests, the nonce that tags
/// the report, and how close non-integer call results must be (relative).
pub struct TestJob<'a> {
    pub solution: &'a str,
    pub spec: &'a TestSpec,
    pub nonce: &'a str,
    pub relative_tolerance: f64,
}

/// How a language runs assert- and call-style tests.
pub enum TestRun {
    /// One instance runs the solution, then the tests, and writes the report on its stdout.
    Single(Invocation),
    /// The solution in one instance, the test driver in another (their stdin/stdout piped
    /// into each other); the driver writes the report on its stderr.
    Pair {
        solution: Invocation,
        driver: Invocation,
    },
}

/// What the `code` judge needs from a language.
pub trait Harness: Sync {
    fn language(&self) -> Language;
    /// Fence tags that mark a block in this language.
    fn fence_tags(&self) -> &'static [&'static str];
    /// The run(s) that execute `spec`'s assert- or call-style tests against `solution` and
    /// write the nonce-tagged report that `parse_report` reads (`None` for stdio tests).
    /// Call results compare as `same` in the driver: integers exactly, non-integer numbers
    /// within `relative_tolerance`.
    fn tests(&self, job: &TestJob) -> Option<TestRun>;
    /// The run of `solution` alone, reading `input` on stdin.
    fn stdio(&self, solution: &str, input: &str) -> Invocation;
    /// Whether an error message (or stderr) names the interpreter's out-of-memory error.
    fn is_memory_error(&self, message: &str) -> bool;
}

/// CPython (3.12, or the opt-in 3.15): the same harness programs run on both.
pub struct Python {
    language: Language,
}

pub static PYTHON: Python = Python {
    language: Language::Python,
};

pub static PYTHON_315: Python = Python {
    language: Language::Python315,
};

impl Harness for Python {
    fn language(&self) -> Language {
        self.language
    }

    fn fence_tags(&self) -> &'static [&'static str] {
        &["python", "py", "python3"]
    }

    fn tests(&self, job: &TestJob) -> Option<TestRun> {
        let (solution, driver) = python_programs(job)?;
        let invocation = |program| Invocation {
            args: vec!["-c".to_owned(), program],
            stdin: Vec::new(),
        };
        Some(TestRun::Pair {
            solution: invocation(solution),
            driver: invocation(driver),
        })
    }

    fn stdio(&self, solution: &str, input: &str) -> Invocation {
        Invocation {
            args: vec!["-c".to_owned(), solution.to_owned()],
            stdin: input.as_bytes().to_vec(),
        }
    }

    fn is_memory_error(&self, message: &str) -> bool {
        message.contains("MemoryError")
    }
}

/// One test's outcome as the harness reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    Passed,
    /// An `assert` failed (or a call returned the wrong value).
    AssertionFailed(String),
    /// Any other exception, as `Type: message`.
    Raised(String),
}

/// What the report line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// The solution (or the test setup) raised before any test ran.
    LoadFailed(String),
    Tests(Vec<TestOutcome>),
}

pub(super) const SOLUTION_SIDE: &str = include_str!("python_solution.py");
pub(super) const DRIVER: &str = include_str!("python_driver.py");

/// A Python (and JavaScript) string literal for `text` (JSON string syntax is valid Python and
/// JavaScript here: serde_json escapes quotes, backslashes and control characters and leaves
/// other characters as UTF-8).
pub fn literal(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialise")
}

/// The driver's `calls` argument, `[function, [[args, expected], ...]]`, as a Python
/// expression: read by Python's JSON reader from the item's own `input_output` text when there
/// is one (its integers exact whatever their size), else from serde_json's reading.
fn python_calls(function: &str, cases: &[(Value, Value)], source: Option<&str>) -> String {
    if let Some(source) = source {
        return format!(
            "(lambda io: [{}, list(zip(io['inputs'], io['outputs']))])(__import__('json').loads({}))",
            literal(function),
            literal(source)
        );
    }
    let json = serde_json::to_string(&calls_value(function, cases)).expect("JSON");
    format!("__import__('json').loads({})", literal(&json))
}

/// The solution's program and the driver's for assert- and call-style tests (`None` for stdio
/// tests, which run the solution itself). Everything variable goes into the final call's
/// arguments, as literals: no template substitution that a solution's text could interfere with.
fn python_programs(job: &TestJob) -> Option<(String, String)> {
    let driven = job.spec.driven()?;
    let (setup, prelude) = (driven.setup, driven.prelude);
    let tests: Vec<String> = driven.tests.iter().map(|t| literal(t)).collect();
    let calls = driven.calls.map_or("None".to_owned(), |c| {
        python_calls(c.function, c.cases, c.source)
    });
    // The solution's replies start with this on a line of their own: stray output it writes to
    // its raw stdout is skipped (it knows the prefix; that only lets it choose its answers,
    // which it does anyway). The prefix is a nonce of its own: the report's nonce appears
    // nowhere in the solution's instance.
    let prefix = format!("\u{1e}{}R ", super::nonce());
    let solution_program = format!(
        "{}._moj_serve({}, {}, {})\n",
        harness_module("_moj_solution_side", SOLUTION_SIDE),
        literal(&prefix),
        literal(setup),
        literal(job.solution)
    );
    let must_proxy = serde_json::to_string(driven.entry_points).expect("JSON");
    let driver_program = format!(
        "{}._moj_drive({}, {}, {}, {}, {must_proxy}, [{}], {calls}, {})\n",
        harness_module("_moj_driver", DRIVER),
        literal(job.nonce),
        literal(&prefix),
        literal(setup),
        literal(prelude),
        tests.join(", "),
        float_literal(job.relative_tolerance),
    );
    Some((solution_program, driver_program))
}

/// A Python expression for the harness module `name`: the one the pre-initialised CPython
/// defined at start-up (`sandbox::PRELOADED_MODULES`, compiled once), else `source` compiled
/// now (no snapshot, or CPython 3.15). Only names starting with `_moj` are bound in `__main__`,
/// and the solution runs in a namespace of its own.
fn harness_module(name: &str, source: &str) -> String {
    format!(
        "import sys as _moj_sys\n\
         _moj_harness = _moj_sys.modules.get({name:?})\n\
         if _moj_harness is None:\n    \
             _moj_harness = type(_moj_sys)({name:?})\n    \
             exec(compile({}, {name:?}, 'exec'), _moj_harness.__dict__)\n\
         _moj_harness",
        literal(source)
    )
}

/// A Python float literal (finite: the config is checked).
fn float_literal(value: f64) -> String {
    format!("{value:e}")
}

fn decode(hex_text: &str) -> String {
    hex::decode(hex_text)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| "<undecodable>".into())
}

/// Finds this run's report in stdout (the last line tagged with the nonce) and checks that it
/// covers exactly `expected_tests` tests.
pub fn parse_report(stdout: &str, nonce: &str, expected_tests: usize) -> Option<Report> {
    let prefix = format!("{nonce} ");
    let line = stdout
        .lines()
        .rev()
        .find_map(|line| line.strip_prefix(&prefix))?;
    if let Some(message) = line.strip_prefix("L:") {
        return Some(Report::LoadFailed(decode(message)));
    }
    let body = line.strip_prefix("T:")?;
    let outcomes: Vec<TestOutcome> = if body.is_empty() {
        Vec::new()
    } else {
        body.split(',')
            .map(|item| match item.split_at_checked(1) {
                Some(("P", "")) => Some(TestOutcome::Passed),
                Some(("A", rest)) => Some(TestOutcome::AssertionFailed(decode(rest))),
                Some(("E", rest)) => Some(TestOutcome::Raised(decode(rest))),
                _ => None,
            })
            .collect::<Option<_>>()?
    };
    (outcomes.len() == expected_tests).then_some(Report::Tests(outcomes))
}

/// The program without the harness's own lines, for stdout shown to users.
pub fn strip_report(stdout: &str, nonce: &str) -> String {
    stdout
        .lines()
        .filter(|line| !line.starts_with(nonce))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_reports_and_rejects_forgeries() {
        let nonce = "n0nce";
        let stdout = "noise\nn0nce T:P,A6f6f70,E4b65794572726f723a2031\n";
        let report = parse_report(stdout, nonce, 3).unwrap();
        assert_eq!(
            report,
            Report::Tests(vec![
                TestOutcome::Passed,
                TestOutcome::AssertionFailed("oop".into()),
                TestOutcome::Raised("KeyError: 1".into())
            ])
        );
        assert_eq!(parse_report(stdout, nonce, 2), None, "wrong test count");
        assert_eq!(parse_report("PASS\nALL TESTS PASSED\n", nonce, 1), None);
        assert_eq!(parse_report("other T:P\n", nonce, 1), None);
        assert_eq!(parse_report("n0nce T:P,Zzz\n", nonce, 2), None);
        assert_eq!(
            parse_report("n0nce L:6e6f\n", nonce, 5),
            Some(Report::LoadFailed("no".into()))
        );
        assert_eq!(strip_report("a\nn0nce T:P\nb", nonce), "a\nb");
    }

    #[test]
    fn literals_survive_quotes_backslashes_and_unicode() {
        assert_eq!(literal("a\"b\\c\n\u{1}é"), "\"a\\\"b\\\\c\\n\\u0001é\"");
    }
}
