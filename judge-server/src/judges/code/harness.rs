//! The per-language harness interface, the report every harness writes, and the Python
//! harness: it runs an item's tests after its solution and reports per-test outcomes on one
//! line tagged with a per-run random nonce.
//!
//! Adding a language: a sandbox `Language` (with its runtime and fetch script), a type that
//! implements `Harness` (see `javascript.rs`), and a `LanguageName` variant in `mod.rs`.
//!
//! Reward-hack resistance: the report line is written last, through references captured before
//! the solution runs (`exec`, `compile`, `sys.stdout.write`, exception classes), and only a
//! line carrying this run's nonce counts. A solution that exits early (`sys.exit(0)`,
//! `os._exit(0)`, `raise SystemExit`), prints a fake "PASS", rebinds builtins or replaces
//! `sys.stdout` produces no valid report and fails. Out of scope: a solution that inspects the
//! harness's own frames to find the nonce (it runs in the same interpreter).

use serde_json::Value;

use super::spec::TestSpec;
use crate::sandbox::Language;

/// One run of an interpreter: its arguments after argv[0] and its stdin.
pub struct Invocation {
    pub args: Vec<String>,
    pub stdin: Vec<u8>,
}

/// What the `code` judge needs from a language.
pub trait Harness: Sync {
    fn language(&self) -> Language;
    /// Fence tags that mark a block in this language (an untagged fence always counts).
    fn fence_tags(&self) -> &'static [&'static str];
    /// The run that executes `spec`'s assert- or call-style tests after `solution` and writes
    /// the nonce-tagged report that `parse_report` reads (`None` for stdio tests).
    fn tests(&self, solution: &str, spec: &TestSpec, nonce: &str) -> Option<Invocation>;
    /// The run of `solution` alone, reading `input` on stdin.
    fn stdio(&self, solution: &str, input: &str) -> Invocation;
    /// Whether an error message (or stderr) names the interpreter's out-of-memory error.
    fn is_memory_error(&self, message: &str) -> bool;
}

/// CPython (3.12, or the opt-in 3.15): the same harness program runs on both.
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

    fn tests(&self, solution: &str, spec: &TestSpec, nonce: &str) -> Option<Invocation> {
        program(solution, spec, nonce).map(|program| Invocation {
            args: vec!["-c".to_owned(), program],
            stdin: Vec::new(),
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

const TEMPLATE: &str = r#"
import sys as _moj_sys
def _moj_main(nonce, setup, solution, tests, calls, _exec=exec, _compile=compile, _str=str, _type=type, _len=len, _isinstance=isinstance,
              _list=list, _tuple=tuple, _float=float, _int=int, _bool=bool, _abs=abs, _max=max,
              _range=range, _enumerate=enumerate,
              _BaseException=BaseException, _AssertionError=AssertionError,
              _write=_moj_sys.stdout.write, _flush=_moj_sys.stdout.flush):
    def encode(text):
        return _str(text)[:2000].encode("utf-8", "replace").hex()
    def report(line):
        _write("\n" + nonce + " " + line + "\n")
        _flush()
    namespace = {"__name__": "__main__"}
    try:
        _exec(_compile(setup, "<test setup>", "exec"), namespace)
        _exec(_compile(solution, "<solution>", "exec"), namespace)
    except _BaseException as error:
        report("L:" + encode(_type(error).__name__ + ": " + _str(error)))
        return
    def same(got, want):
        if _isinstance(got, _tuple):
            got = _list(got)
        if got == want:
            return True
        numbers = (_int, _float)
        if _isinstance(got, numbers) and _isinstance(want, numbers) and not _isinstance(got, _bool):
            return _abs(got - want) <= 1e-5 * _max(_abs(got), _abs(want), 1e-300)
        if _isinstance(got, _list) and _isinstance(want, _list) and _len(got) == _len(want):
            for i in _range(_len(got)):
                if not same(got[i], want[i]):
                    return False
            return True
        return False
    outcomes = []
    for index, test in _enumerate(tests):
        try:
            _exec(_compile(test, "<test %d>" % index, "exec"), namespace)
            outcomes.append("P")
        except _AssertionError as error:
            outcomes.append("A" + encode(_str(error)))
        except _BaseException as error:
            outcomes.append("E" + encode(_type(error).__name__ + ": " + _str(error)))
    if calls is not None:
        function_name, cases = calls
        for args, want in cases:
            try:
                function = namespace[function_name]
                got = function(*args) if _isinstance(args, _list) else function(args)
                if same(got, want) or same([got], want):
                    outcomes.append("P")
                else:
                    outcomes.append("A" + encode("returned %r, expected %r" % (got, want)))
            except _BaseException as error:
                outcomes.append("E" + encode(_type(error).__name__ + ": " + _str(error)))
    report("T:" + ",".join(outcomes))
"#;

/// A Python (and JavaScript) string literal for `text` (JSON string syntax is valid Python and
/// JavaScript here: serde_json escapes quotes, backslashes and control characters and leaves
/// other characters as UTF-8).
pub fn literal(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialise")
}

/// The full Python program for assert- and call-style tests (`None` for stdio tests, which run
/// the solution itself).
fn program(solution: &str, spec: &TestSpec, nonce: &str) -> Option<String> {
    let (setup, tests, calls) = match spec {
        TestSpec::Asserts { setup, tests } => (
            setup.as_str(),
            tests.iter().map(|t| literal(t)).collect::<Vec<_>>(),
            "None".to_owned(),
        ),
        TestSpec::Calls { function, cases } => {
            let cases: Vec<Value> = cases
                .iter()
                .map(|(i, o)| Value::Array(vec![i.clone(), o.clone()]))
                .collect();
            let json = serde_json::to_string(&Value::Array(vec![
                Value::String(function.clone()),
                Value::Array(cases),
            ]))
            .expect("JSON");
            (
                "",
                Vec::new(),
                format!("__import__('json').loads({})", literal(&json)),
            )
        }
        TestSpec::Stdio { .. } => return None,
    };
    // Everything variable goes into the final call's arguments, as literals: no template
    // substitution that a solution's text could interfere with.
    Some(format!(
        "{TEMPLATE}_moj_main({}, {}, {}, [{}], {})\n",
        literal(nonce),
        literal(setup),
        literal(solution),
        tests.join(", "),
        calls
    ))
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
