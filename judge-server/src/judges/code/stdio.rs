//! stdin/stdout tests: the program runs once per case (a script through its interpreter, or a
//! compiled C/C++ module), and its output is compared with the expected one (`moj-code`:
//! integers exactly, other numbers within the tolerance), or judged by the item's checker.
//!
//! A checker (`metadata.checker`: `{"language": ..., "code": ...}`) is for problems with more
//! than one right output. It follows testlib's convention: it runs in the sandbox, in a fresh
//! directory holding the files `input` (the case's input), `output` (the program's output) and
//! `answer` (the expected output), with those three names as its arguments; exit 0 accepts the
//! output, any other exit rejects it (its message is kept), and so does a checker that runs
//! out of budget or crashes on it (as a testlib checker rejects output it cannot read); a
//! checker the sandbox cannot run at all (or stopped by the wall-clock net) makes the item an
//! `error`.

use std::path::Path;

use serde_json::{Value, json};

use super::harness::Harness;
use super::outcome::{describe_abnormal, exit_reason, last_line, tail, wall_clock_error};
use crate::judges::{InputError, Judgement};
use crate::sandbox::{
    CompiledProgram, Exit, Language, RunLimits, RunOutput, Sandbox, SandboxError, Workdir,
};
use moj_code::{Comparison, outputs_match};

/// How a case runs the program.
pub(super) enum Runner<'a> {
    /// Through the language's interpreter.
    Script {
        harness: &'static dyn Harness,
        program: &'a str,
    },
    /// A compiled C/C++ module.
    Compiled(CompiledProgram),
}

impl Runner<'_> {
    async fn run(
        &self,
        sandbox: &Sandbox,
        input: &str,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        match self {
            Runner::Script { harness, program } => {
                let invocation = harness.stdio(program, input);
                sandbox
                    .run(
                        harness.language(),
                        &invocation.args,
                        invocation.stdin,
                        limits,
                    )
                    .await
            }
            Runner::Compiled(program) => {
                sandbox
                    .run_program(program, &[], input.as_bytes().to_vec(), limits)
                    .await
            }
        }
    }

    /// In a fresh directory (a checker's run).
    async fn run_in(
        &self,
        sandbox: &Sandbox,
        args: &[String],
        limits: RunLimits,
        dir: Workdir,
    ) -> Result<RunOutput, SandboxError> {
        match self {
            Runner::Script { harness, program } => {
                let mut argv = harness.stdio(program, "").args;
                argv.extend_from_slice(args);
                sandbox
                    .run_in_dir(harness.language(), &argv, Vec::new(), limits, dir)
                    .await
            }
            Runner::Compiled(program) => {
                sandbox
                    .run_program_in_dir(program, args, Vec::new(), limits, dir)
                    .await
            }
        }
    }

    fn is_memory_error(&self, message: &str) -> bool {
        match self {
            Runner::Script { harness, .. } => harness.is_memory_error(message),
            Runner::Compiled(_) => false,
        }
    }
}

/// `metadata.checker`, read.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Checker {
    pub language: Language,
    pub code: String,
}

/// The item's checker, if it names one (malformed: an input error naming the field).
pub(super) fn checker(
    metadata: &serde_json::Map<String, Value>,
) -> Result<Option<Checker>, InputError> {
    let error = |field: &str, message: &str| InputError {
        field: format!("metadata.checker{field}"),
        message: message.to_owned(),
    };
    let object = match metadata.get("checker") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(object)) => object,
        Some(_) => return Err(error("", "must be an object {\"language\", \"code\"}")),
    };
    let language = match object.get("language") {
        None | Some(Value::Null) => Language::Python,
        Some(value) => serde_json::from_value(value.clone()).map_err(|_| {
            error(
                ".language",
                "must be \"python\", \"javascript\", \"python3.15\", \"c\" or \"cpp\"",
            )
        })?,
    };
    let code = object
        .get("code")
        .and_then(Value::as_str)
        .filter(|code| !code.trim().is_empty())
        .ok_or_else(|| {
            error(
                ".code",
                "must be the checker's program (a non-empty string)",
            )
        })?;
    if let Some(key) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "language" | "code"))
    {
        return Err(error(&format!(".{key}"), "unknown field (language, code)"));
    }
    Ok(Some(Checker {
        language,
        code: code.to_owned(),
    }))
}

/// How the output of the cases is judged.
pub(super) enum Judging<'a> {
    Compare(Comparison),
    /// By the item's checker, ready to run.
    Checker(Runner<'a>),
}

/// One case's result: passed, rejected (reason, message), or the checker failed (an error).
enum CaseVerdict {
    Passed,
    Rejected(&'static str, String),
    CheckerFailed(String),
}

/// Runs every case and judges it. `limits` are the program's; a checker gets the same.
pub(super) async fn judge_stdio(
    sandbox: &Sandbox,
    runner: &Runner<'_>,
    cases: &[(String, String)],
    limits: &RunLimits,
    judging: &Judging<'_>,
) -> Judgement {
    let mut outcomes = Vec::with_capacity(cases.len());
    let mut first_failure: Option<String> = None;
    let mut passed = 0;
    for (index, (input, expected)) in cases.iter().enumerate() {
        let output = match runner.run(sandbox, input, limits.clone()).await {
            Ok(output) => output,
            Err(error) => return Judgement::error(error.to_string()),
        };
        if output.exit == Exit::WallClock {
            // The host was too slow for this case: an `error`, unless an earlier case already
            // failed (the item fails whatever this one would have done).
            if first_failure.is_some() {
                break;
            }
            return wall_clock_error(&output);
        }
        let verdict = match &output.exit {
            Exit::Code(0) => judge_output(sandbox, &output, input, expected, limits, judging).await,
            Exit::Code(code) => CaseVerdict::Rejected(
                exit_reason(&output, |m| runner.is_memory_error(m)),
                format!("exited with code {code}: {}", last_line(&output.stderr)),
            ),
            exit => CaseVerdict::Rejected(
                exit_reason(&output, |m| runner.is_memory_error(m)),
                describe_abnormal(exit, &output),
            ),
        };
        let millis = output.elapsed.as_millis() as u64;
        match verdict {
            CaseVerdict::Passed => {
                passed += 1;
                outcomes.push(json!({"outcome": "pass", "millis": millis}));
            }
            CaseVerdict::Rejected(reason, message) => {
                first_failure.get_or_insert_with(|| format!("case {index}: {message}"));
                outcomes.push(json!({
                    "outcome": reason, "message": message, "millis": millis,
                    "stdout_tail": tail(&output.stdout), "stderr_tail": tail(&output.stderr),
                }));
            }
            CaseVerdict::CheckerFailed(message) => {
                return Judgement::error(format!("case {index}: the item's checker {message}"));
            }
        }
    }
    let score = passed as f64 / cases.len() as f64;
    let exit = if first_failure.is_none() {
        "ok"
    } else {
        "wrong_answer"
    };
    let details = json!({"tests": outcomes, "exit": exit});
    match first_failure {
        None => Judgement::pass(format!(
            "all {} case(s) produced the expected output",
            cases.len()
        )),
        Some(message) => Judgement::fail(format!(
            "{} of {} case(s) failed; first: {message}",
            cases.len() - passed,
            cases.len()
        )),
    }
    .with_score(score)
    .with_details(details)
}

async fn judge_output(
    sandbox: &Sandbox,
    output: &RunOutput,
    input: &str,
    expected: &str,
    limits: &RunLimits,
    judging: &Judging<'_>,
) -> CaseVerdict {
    let stdout = String::from_utf8_lossy(&output.stdout);
    match judging {
        Judging::Compare(comparison) => match outputs_match(&stdout, expected, *comparison) {
            Ok(()) => CaseVerdict::Passed,
            Err(diff) => CaseVerdict::Rejected("wrong_answer", diff),
        },
        Judging::Checker(checker) => {
            run_checker(sandbox, checker, input, &output.stdout, expected, limits).await
        }
    }
}

/// Runs the checker on one case's files.
async fn run_checker(
    sandbox: &Sandbox,
    checker: &Runner<'_>,
    input: &str,
    output: &[u8],
    answer: &str,
    limits: &RunLimits,
) -> CaseVerdict {
    let dir = match checker_directory(input, output, answer) {
        Ok(dir) => dir,
        Err(error) => return CaseVerdict::CheckerFailed(format!("could not be set up: {error}")),
    };
    let workdir = Workdir {
        host: dir.path().to_path_buf(),
        quota_bytes: (input.len() + output.len() + answer.len() + limits.output_bytes) as u64,
    };
    let args = ["input", "output", "answer"].map(str::to_owned);
    let ran = match checker
        .run_in(sandbox, &args, limits.clone(), workdir)
        .await
    {
        Ok(ran) => ran,
        Err(error) => return CaseVerdict::CheckerFailed(format!("could not run: {error}")),
    };
    match &ran.exit {
        Exit::Code(0) => CaseVerdict::Passed,
        Exit::Code(code) => {
            let said = [&ran.stdout[..], &ran.stderr[..]]
                .iter()
                .map(|bytes| last_line(bytes))
                .find(|line| !line.is_empty())
                .unwrap_or_default();
            CaseVerdict::Rejected(
                "wrong_answer",
                format!("the checker rejected the output (exit {code}): {said}"),
            )
        }
        // The checker ran out of budget, memory or output, or crashed, on this output: as
        // testlib's checkers reject what they cannot read, the output is rejected (an `error`
        // here would let a program escape a `fail` by upsetting the checker); only a checker
        // the sandbox could not run at all makes the item an `error`.
        Exit::WallClock => CaseVerdict::CheckerFailed(describe_abnormal(&ran.exit, &ran)),
        exit => CaseVerdict::Rejected(
            "wrong_answer",
            format!(
                "the checker could not judge the output: {}",
                describe_abnormal(exit, &ran)
            ),
        ),
    }
}

/// A fresh directory with the case's `input`, `output` and `answer` files.
fn checker_directory(
    input: &str,
    output: &[u8],
    answer: &str,
) -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("moj-check-");
    let dir = match shm.is_dir() {
        true => builder.tempdir_in(shm).or_else(|_| builder.tempdir())?,
        false => builder.tempdir()?,
    };
    std::fs::write(dir.path().join("input"), input)?;
    std::fs::write(dir.path().join("output"), output)?;
    std::fs::write(dir.path().join("answer"), answer)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: Value) -> serde_json::Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn checkers_are_read_or_refused_naming_the_field() {
        assert_eq!(checker(&metadata(json!({}))).unwrap(), None);
        let read = checker(&metadata(json!({"checker": {"code": "import sys"}}))).unwrap();
        assert_eq!(read.unwrap().language, Language::Python);
        let read = checker(&metadata(
            json!({"checker": {"language": "cpp", "code": "int main(){}"}}),
        ))
        .unwrap();
        assert_eq!(read.unwrap().language, Language::Cpp);
        for (bad, field) in [
            (json!({"checker": "x"}), "metadata.checker"),
            (json!({"checker": {"code": ""}}), "metadata.checker.code"),
            (
                json!({"checker": {"language": "cobol", "code": "x"}}),
                "metadata.checker.language",
            ),
            (
                json!({"checker": {"code": "x", "timeout": 1}}),
                "metadata.checker.timeout",
            ),
        ] {
            assert_eq!(checker(&metadata(bad)).unwrap_err().field, field);
        }
    }
}
