//! How a code run ended, as a verdict: the report of an assert- or call-style run (one instance,
//! or the solution and driver pair) with the exit that explains a missing or failing report,
//! and the helpers that describe exits and quote output in the details.

use serde_json::{Value, json};

use super::harness::{self, Harness, Report, TestOutcome};
use crate::judges::Judgement;
use crate::sandbox::{Exit, RunOutput};

/// How much of stdout/stderr the details quote.
const TAIL_BYTES: usize = 1000;

pub(super) fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(TAIL_BYTES);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// Exit reasons named in the details.
pub(super) fn exit_reason(
    output: &RunOutput,
    is_memory_error: impl Fn(&str) -> bool,
) -> &'static str {
    match &output.exit {
        Exit::Timeout => "timeout",
        Exit::WallClock => "wall_clock",
        Exit::OutputLimit => "output_limit",
        Exit::Trap(_) if output.memory_denied => "memory",
        Exit::Trap(_) => "crash",
        Exit::Code(code)
            if output.memory_denied
                && (is_memory_error(&String::from_utf8_lossy(&output.stderr))
                    || (*code != 0 && output.stderr.is_empty())) =>
        {
            "memory"
        }
        Exit::Code(0) => "ok",
        Exit::Code(_) => "exception",
    }
}

/// How an assert- or call-style run ended, as one outcome: the report, the exit that explains
/// a missing or failing report, and what the program printed.
pub(super) struct TestsRan {
    output: RunOutput,
    report: Option<Report>,
    program_output: String,
}

impl TestsRan {
    /// One instance ran the solution and the tests; the report is on its stdout.
    pub(super) fn single(output: RunOutput, nonce: &str, tests: usize) -> TestsRan {
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        TestsRan {
            report: harness::parse_report(&stdout, nonce, tests),
            program_output: harness::strip_report(&stdout, nonce),
            output,
        }
    }

    /// The solution and the driver ran in two instances; the report is on the driver's
    /// stderr, and the solution's own output (captured by its side) on the solution's stderr.
    /// A report that passes everything stands whatever happened after it; otherwise the
    /// solution's abnormal end (budget, memory, crash) explains the failures, then the
    /// driver's, and the safety net of either makes it an `error`.
    pub(super) fn pair(
        solution: RunOutput,
        driver: RunOutput,
        nonce: &str,
        tests: usize,
    ) -> TestsRan {
        let report = harness::parse_report(&String::from_utf8_lossy(&driver.stderr), nonce, tests);
        let all_passed = matches!(&report, Some(Report::Tests(outcomes))
            if outcomes.iter().all(|o| *o == TestOutcome::Passed));
        let memory_denied = solution.memory_denied || driver.memory_denied;
        let exit = if solution.exit == Exit::WallClock || driver.exit == Exit::WallClock {
            Exit::WallClock
        } else if all_passed {
            Exit::Code(0)
        } else if !matches!(solution.exit, Exit::Code(_)) {
            solution.exit.clone()
        } else if !matches!(driver.exit, Exit::Code(0)) {
            driver.exit.clone()
        } else {
            Exit::Code(0)
        };
        TestsRan {
            report,
            program_output: String::from_utf8_lossy(&solution.stderr).into_owned(),
            output: RunOutput {
                exit,
                stdout: Vec::new(),
                stderr: driver.stderr,
                memory_denied,
                elapsed: solution.elapsed.max(driver.elapsed),
                fuel_used: solution.fuel_used,
            },
        }
    }
}

/// The wall-clock safety net ended a run: the host was too slow, which says nothing about the
/// program, so the verdict is an `error` (never cached) that a retry may turn into a verdict.
pub(super) fn wall_clock_error(output: &RunOutput) -> Judgement {
    Judgement::error(format!(
        "the run was stopped by the wall-clock safety net after {} ms, before its budget was \
         used up: the host is overloaded; retry",
        output.elapsed.as_millis()
    ))
}

/// The verdict of an assert- or call-style run from its report and how it ended.
pub(super) fn assert_verdict(harness: &dyn Harness, ran: TestsRan) -> Judgement {
    let TestsRan {
        output,
        report,
        program_output,
    } = ran;
    if output.exit == Exit::WallClock {
        return wall_clock_error(&output);
    }
    let mut details = json!({
        "exit": exit_reason(&output, |m| harness.is_memory_error(m)),
        "millis": output.elapsed.as_millis() as u64,
        "stdout_tail": tail(program_output.as_bytes()),
        "stderr_tail": tail(&output.stderr),
    });
    let judgement = match (&output.exit, report) {
        (Exit::Code(0), Some(Report::Tests(outcomes))) => {
            let failed = outcomes
                .iter()
                .filter(|o| **o != TestOutcome::Passed)
                .count();
            let outcome_details: Vec<Value> = outcomes
                .iter()
                .map(|o| match o {
                    TestOutcome::Passed => json!({"outcome": "pass"}),
                    TestOutcome::AssertionFailed(message) => {
                        json!({"outcome": "assertion", "message": message})
                    }
                    TestOutcome::Raised(message) => {
                        json!({"outcome": "exception", "message": message})
                    }
                })
                .collect();
            let first_failure = outcomes
                .iter()
                .find(|o| **o != TestOutcome::Passed)
                .cloned();
            details["tests"] = Value::Array(outcome_details);
            let passed = outcomes.len() - failed;
            let score = passed as f64 / outcomes.len() as f64;
            match first_failure {
                None => Judgement::pass(format!("all {} test(s) passed", outcomes.len())),
                Some(TestOutcome::AssertionFailed(message)) => {
                    details["exit"] = json!("assertion");
                    let first = if message.trim().is_empty() {
                        String::new()
                    } else {
                        format!("; first: {}", clip(&message, 300))
                    };
                    Judgement::fail(format!(
                        "{failed} of {} test(s) failed an assertion or returned a wrong value{first}",
                        outcomes.len()
                    ))
                }
                Some(TestOutcome::Raised(message)) => {
                    details["exit"] = json!(if harness.is_memory_error(&message) {
                        "memory"
                    } else {
                        "exception"
                    });
                    Judgement::fail(format!(
                        "{failed} of {} test(s) failed; first: {message}",
                        outcomes.len()
                    ))
                }
                Some(TestOutcome::Passed) => Judgement::pass("all tests passed"),
            }
            .with_score(score)
        }
        (Exit::Code(0), Some(Report::LoadFailed(message))) => {
            details["exit"] = json!(if harness.is_memory_error(&message) {
                "memory"
            } else {
                "exception"
            });
            Judgement::fail(format!(
                "the program raised before the tests ran: {message}"
            ))
            .with_score(0.0)
        }
        (Exit::Code(0), None) => {
            details["exit"] = json!("no_result");
            Judgement::fail("the program ended before the tests reported (early exit?)")
                .with_score(0.0)
        }
        (Exit::Code(code), _) => {
            details["exit"] = json!(if details["exit"] == "memory" {
                "memory"
            } else {
                "no_result"
            });
            Judgement::fail(format!(
                "the program exited with code {code} before the tests reported"
            ))
            .with_score(0.0)
        }
        (exit, _) => Judgement::fail(describe_abnormal(exit, &output)).with_score(0.0),
    };
    judgement.with_details(details)
}

fn clip(text: &str, chars: usize) -> String {
    let mut clipped: String = text.chars().take(chars).collect();
    if clipped.len() < text.len() {
        clipped.push('…');
    }
    clipped
}

pub(super) fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

pub(super) fn describe_abnormal(exit: &Exit, output: &RunOutput) -> String {
    match exit {
        Exit::Timeout => {
            "timed out (used up its timeout_ms budget, counted in instructions)".into()
        }
        Exit::WallClock => format!(
            "stopped by the wall-clock safety net after {} ms",
            output.elapsed.as_millis()
        ),
        Exit::OutputLimit => "the program exceeded the output limit".into(),
        Exit::Trap(_) if output.memory_denied => "the program exceeded the memory limit".into(),
        Exit::Trap(message) => format!("the interpreter crashed: {message}"),
        Exit::Code(code) => format!("exited with code {code}"),
    }
}
