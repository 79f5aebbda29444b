//! `code`: runs the program in the response against the item's tests inside the WebAssembly
//! sandbox (CPython 3.12 or QuickJS-ng for WASI; C and C++ compiled to WebAssembly). Passes
//! only if every test passes.
//!
//! The language is `metadata.language` when the item names one (`"python"`, `"javascript"` or
//! `"js"`, `"python3.15"` for the opt-in CPython 3.15 with numpy/pandas/scipy/scikit-learn,
//! `"c"`, `"cpp"` or `"c++"`), else the config's `language` (default `"python"`). Each
//! interpreted language is a `Harness` (`harness.rs`: Python; `javascript.rs`: JavaScript); C
//! and C++ are compiled (`sandbox/compiler`) and judged on stdin/stdout tests (`stdio.rs`).
//!
//! Config (all optional):
//! ```json
//! {"language": "python", "extract": "last_fence_or_whole", "timeout_ms": 60000, "memory_mb": 256,
//!  "output_bytes": 1048576, "relative_tolerance": 1e-5, "case_insensitive": false,
//!  "cpp_std": "gnu++17", "c_std": "gnu17"}
//! ```
//! Tests come from metadata (see `spec.rs`: HumanEval, MBPP, `unit_tests`, APPS, `stdio`).
//! Details: per-test outcomes, the exit reason (`ok`, `assertion`, `exception`, `timeout`,
//! `memory`, `output_limit`, `crash`, `no_result`), and stdout/stderr tails. Infrastructure
//! problems (runtime missing, queue full, sandbox failure) are `error`, never pass or fail.

mod harness;
mod javascript;
mod outcome;
mod spec;
mod stdio;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use judge_api::Item;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::sandboxed::{Floors, Limits, Sandboxed, check_limits, judge_each, runtime_sha256};
use super::{
    ConfigError, Fingerprint, InputError, Judge, JudgeContext, Judgement, KindSpec, parse_config,
};
use crate::sandbox::compiler::{CStandard, CppStandard, Dialect, Rejected};
use crate::sandbox::{CompiledProgram, Language, RunLimits, RunOutput, Sandbox, SandboxError};
use harness::{Harness, Invocation, TestJob, TestRun};
use moj_code::{Comparison, Extraction};
use outcome::TestsRan;
use spec::TestSpec;

pub const KIND: KindSpec = KindSpec {
    name: "code",
    version: 3,
    description: "Runs the response's program against the item's unit tests in the Wasmtime sandbox (Python: CPython 3.12 for WASI; JavaScript: QuickJS-ng for WASI).",
    build,
};

/// The harness that runs tests in an interpreted `language` (`None`: C and C++ are compiled).
fn harness_for(language: Language) -> Option<&'static dyn Harness> {
    match language {
        Language::Python => Some(&harness::PYTHON),
        Language::JavaScript => Some(&javascript::JAVASCRIPT),
        Language::Python315 => Some(&harness::PYTHON_315),
        Language::C | Language::Cpp => None,
    }
}

/// Fence tags that mark a block in `language`.
fn fence_tags(language: Language) -> &'static [&'static str] {
    match harness_for(language) {
        Some(harness) => harness.fence_tags(),
        None if language == Language::C => &["c"],
        None => &["cpp", "c++", "cc", "cxx"],
    }
}

/// HumanEval completion style (`metadata.completion_mode: true`): the program is the item's
/// `metadata.prompt` (the signature and docstring) followed by the response as it is, as
/// OpenAI's human-eval harness runs `problem["prompt"] + completion`; no fence is looked for.
fn completion_prefix(
    metadata: &serde_json::Map<String, Value>,
) -> Result<Option<&str>, InputError> {
    match metadata.get("completion_mode") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Bool(true)) => match metadata.get("prompt") {
            Some(Value::String(prompt)) => Ok(Some(prompt)),
            _ => Err(InputError {
                field: "metadata.prompt".to_owned(),
                message: "completion_mode needs the problem's prompt (a string) to complete"
                    .to_owned(),
            }),
        },
        Some(_) => Err(InputError {
            field: "metadata.completion_mode".to_owned(),
            message: "must be true or false".to_owned(),
        }),
    }
}

/// The arguments and stdin that run `program` as a script reading `input` in `language`: what
/// a stdio test runs, and what `POST /run_code` runs.
/// `None` for compiled languages (C, C++), which run as their own modules.
pub fn script_invocation(
    language: Language,
    program: &str,
    input: &str,
) -> Option<(Vec<String>, Vec<u8>)> {
    let Invocation { args, stdin } = harness_for(language)?.stdio(program, input);
    Some((args, stdin))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeConfig {
    #[serde(default)]
    language: Language,
    #[serde(default)]
    extract: Extraction,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_memory_mb")]
    memory_mb: usize,
    #[serde(default = "default_output_bytes")]
    output_bytes: usize,
    #[serde(default = "default_tolerance")]
    relative_tolerance: f64,
    #[serde(default)]
    case_insensitive: bool,
    /// The C++ standard (`-std=`), and C's.
    #[serde(default)]
    cpp_std: CppStandard,
    #[serde(default)]
    c_std: CStandard,
}

/// The CPython WASI build runs about 6-9x slower than native CPython (it is compiled with
/// -O0); MBPP's slowest reference solution takes ~2.4 s natively and ~27 s here.
fn default_timeout_ms() -> u64 {
    60_000
}

fn default_memory_mb() -> usize {
    256
}

fn default_output_bytes() -> usize {
    1024 * 1024
}

fn default_tolerance() -> f64 {
    1e-5
}

/// What the fingerprint covers (and `GET /v1/judges` shows): the config plus the runtimes (an
/// item may name its language, so every runtime can judge).
#[derive(Serialize)]
struct Identity<'a> {
    #[serde(flatten)]
    config: &'a CodeConfig,
    runtime_sha256: std::collections::BTreeMap<&'static str, String>,
    /// The harness programs' SHA-256: a changed harness may judge differently.
    harness_sha256: String,
}

type CodeJudge = Sandboxed<CodeConfig>;

fn build(config: &Value, context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config: CodeConfig = parse_config(config)?;
    let invalid = |field: &str, message: &str| {
        Err(ConfigError {
            field: format!("config.{field}"),
            message: message.into(),
        })
    };
    if !(config.relative_tolerance >= 0.0 && config.relative_tolerance.is_finite()) {
        return invalid("relative_tolerance", "must be a finite number >= 0");
    }
    let limits = Limits::new(config.timeout_ms, config.memory_mb, config.output_bytes);
    // CPython needs 32 MiB; the harness's report, 1 KiB of output.
    check_limits(context, &limits, Floors::new(32, 1024))?;
    // The runtimes are part of the judge's identity: another interpreter may judge differently.
    let identity = Identity {
        config: &config,
        runtime_sha256: Language::ALL
            .iter()
            .map(|&language| (language.name(), runtime_sha256(context, language)))
            .collect(),
        harness_sha256: harness_sha256(),
    };
    let fingerprint = Fingerprint::of(KIND.name, KIND.version, &identity);
    Ok(CodeJudge::new(fingerprint, config, context))
}

/// SHA-256 over every harness program (Python's two halves, JavaScript's template).
fn harness_sha256() -> String {
    let mut hasher = Sha256::new();
    for source in [
        harness::SOLUTION_SIDE,
        harness::DRIVER,
        javascript::TEMPLATE,
    ] {
        hasher.update((source.len() as u64).to_le_bytes());
        hasher.update(source.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// A fresh random nonce per run (no RNG dependency: SHA-256 over a counter, time and address).
pub(super) fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = Sha256::new();
    hasher.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hasher.update(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
    hasher.update((&hasher as *const Sha256 as usize).to_le_bytes());
    format!("MOJ-{}", &hex::encode(hasher.finalize())[..32])
}

/// An item checked: its language, tests, checker, and the program to run.
struct Prepared {
    language: Language,
    spec: TestSpec,
    checker: Option<stdio::Checker>,
}

impl CodeJudge {
    fn limits(&self) -> RunLimits {
        RunLimits {
            timeout: Duration::from_millis(self.config.timeout_ms),
            memory_bytes: self.config.memory_mb * 1024 * 1024,
            output_bytes: self.config.output_bytes,
        }
    }

    async fn run(
        &self,
        sandbox: &Sandbox,
        harness: &dyn Harness,
        invocation: Invocation,
    ) -> Result<RunOutput, SandboxError> {
        sandbox
            .run(
                harness.language(),
                &invocation.args,
                invocation.stdin,
                self.limits(),
            )
            .await
    }

    /// The item's language: `metadata.language`, else the config's.
    fn language(&self, item: &Item) -> Result<Language, InputError> {
        match item.metadata.get("language") {
            None | Some(Value::Null) => Ok(self.config.language),
            Some(value) => serde_json::from_value(value.clone()).map_err(|_| InputError {
                field: "metadata.language".into(),
                message: "must be \"python\", \"javascript\" (or \"js\"), \"python3.15\", \"c\" \
                          or \"cpp\" (or \"c++\")"
                    .into(),
            }),
        }
    }

    /// What `judge_item` needs from the item's metadata; malformed metadata is an input error
    /// naming the field (a 422 from `check_item`).
    fn prepare(&self, item: &Item) -> Result<Prepared, InputError> {
        let language = self.language(item)?;
        let spec = spec::from_metadata(&item.metadata)?;
        let checker = stdio::checker(&item.metadata)?;
        let stdio = matches!(spec, TestSpec::Stdio { .. });
        if language.is_compiled() && !stdio {
            return Err(InputError {
                field: "metadata".into(),
                message: "C and C++ items are judged on stdin/stdout tests: give `stdio` or APPS \
                          `input_output` without `fn_name`"
                    .into(),
            });
        }
        if checker.is_some() && !stdio {
            return Err(InputError {
                field: "metadata.checker".into(),
                message: "a checker judges stdin/stdout tests (`stdio`, or APPS `input_output` \
                          without `fn_name`)"
                    .into(),
            });
        }
        Ok(Prepared {
            language,
            spec,
            checker,
        })
    }

    /// The program to run: the completion after the prompt, or the response's fenced block.
    fn program(&self, item: &Item, language: Language) -> Result<String, Box<Judgement>> {
        match completion_prefix(&item.metadata) {
            Ok(Some(prefix)) => Ok(format!("{prefix}{}", item.response)),
            Ok(None) => {
                match moj_code::extract(&item.response, fence_tags(language), self.config.extract) {
                    Some(solution) => Ok(solution.to_owned()),
                    None => Err(Box::new(
                        Judgement::fail("no fenced code block in the response")
                            .with_details(json!({"exit": "no_program"})),
                    )),
                }
            }
            Err(error) => Err(Box::new(Judgement::error(format!(
                "{}: {}",
                error.field, error.message
            )))),
        }
    }

    async fn judge_item(&self, sandbox: &Arc<Sandbox>, item: &Item) -> Judgement {
        let prepared = match self.prepare(item) {
            Ok(prepared) => prepared,
            Err(error) => return Judgement::error(format!("{}: {}", error.field, error.message)),
        };
        if let Err(message) = sandbox.availability(prepared.language) {
            return Judgement::error(message);
        }
        let program = match self.program(item, prepared.language) {
            Ok(program) => program,
            Err(judgement) => return *judgement,
        };
        let runner = match harness_for(prepared.language) {
            Some(harness) => match &prepared.spec {
                TestSpec::Stdio { .. } => stdio::Runner::Script {
                    harness,
                    program: &program,
                },
                spec => return self.judge_asserts(sandbox, harness, &program, spec).await,
            },
            None => match self.compile(sandbox, prepared.language, &program).await {
                Ok(program) => stdio::Runner::Compiled(program),
                Err(judgement) => return *judgement,
            },
        };
        let TestSpec::Stdio { cases } = &prepared.spec else {
            return Judgement::error("internal: a compiled language without stdio tests");
        };
        let compiled = match &runner {
            stdio::Runner::Compiled(program) => Some(json!({
                "cached": program.cached,
                "millis": program.elapsed.as_millis() as u64,
                "warnings": outcome::tail(program.diagnostics.as_bytes()),
            })),
            stdio::Runner::Script { .. } => None,
        };
        let judging = match &prepared.checker {
            None => stdio::Judging::Compare(Comparison {
                relative_tolerance: self.config.relative_tolerance,
                case_insensitive: self.config.case_insensitive,
            }),
            Some(checker) => match self.checker_runner(sandbox, checker).await {
                Ok(runner) => stdio::Judging::Checker(runner),
                Err(judgement) => return *judgement,
            },
        };
        let mut judgement =
            stdio::judge_stdio(sandbox, &runner, cases, &self.limits(), &judging).await;
        if let (Some(compiled), Some(Value::Object(details))) = (compiled, &mut judgement.details) {
            details.insert("compile".to_owned(), compiled);
        }
        judgement
    }

    /// `program` compiled; a program that does not compile fails with the compiler's
    /// diagnostics.
    async fn compile(
        &self,
        sandbox: &Arc<Sandbox>,
        language: Language,
        program: &str,
    ) -> Result<CompiledProgram, Box<Judgement>> {
        let dialect = match language {
            Language::C => Dialect::C(self.config.c_std),
            _ => Dialect::Cpp(self.config.cpp_std),
        };
        match sandbox.compile(dialect, program).await {
            Ok(Ok(program)) => Ok(program),
            Ok(Err(rejected)) => Err(Box::new(compile_failure(&rejected))),
            Err(error) => Err(Box::new(Judgement::error(error.to_string()))),
        }
    }

    /// The item's checker, ready to run (compiled if it is C or C++). A checker that does not
    /// compile or cannot run makes the item an `error`: the item is broken, not the program.
    async fn checker_runner<'a>(
        &self,
        sandbox: &Arc<Sandbox>,
        checker: &'a stdio::Checker,
    ) -> Result<stdio::Runner<'a>, Box<Judgement>> {
        if let Err(message) = sandbox.availability(checker.language) {
            return Err(Box::new(Judgement::error(format!(
                "the item's checker: {message}"
            ))));
        }
        match harness_for(checker.language) {
            Some(harness) => Ok(stdio::Runner::Script {
                harness,
                program: &checker.code,
            }),
            None => match self.compile(sandbox, checker.language, &checker.code).await {
                Ok(program) => Ok(stdio::Runner::Compiled(program)),
                Err(failure) => Err(Box::new(Judgement::error(format!(
                    "the item's checker does not compile: {}",
                    failure.reason
                )))),
            },
        }
    }

    async fn judge_asserts(
        &self,
        sandbox: &Sandbox,
        harness: &dyn Harness,
        solution: &str,
        spec: &TestSpec,
    ) -> Judgement {
        let nonce = nonce();
        let job = TestJob {
            solution,
            spec,
            nonce: &nonce,
            relative_tolerance: self.config.relative_tolerance,
        };
        let Some(run) = harness.tests(&job) else {
            return Judgement::error("internal: no harness for this test format");
        };
        let ran = match run {
            TestRun::Single(invocation) => self
                .run(sandbox, harness, invocation)
                .await
                .map(|output| TestsRan::single(output, &nonce, spec.count())),
            TestRun::Pair { solution, driver } => {
                let limits = self.limits();
                // The driver waits for the solution most of the time (waiting costs no
                // fuel); its own work gets the same budget again.
                let driver_limits = RunLimits {
                    timeout: limits.timeout * 2,
                    ..limits.clone()
                };
                sandbox
                    .run_pair(
                        harness.language(),
                        (&solution.args, limits),
                        (&driver.args, driver_limits),
                    )
                    .await
                    .map(|(solution, driver)| {
                        TestsRan::pair(solution, driver, &nonce, spec.count())
                    })
            }
        };
        match ran {
            Ok(ran) => outcome::assert_verdict(harness, ran),
            Err(error) => Judgement::error(error.to_string()),
        }
    }
}

/// The first `bytes` of `text` (on a character boundary), marked when cut.
fn head(text: &str, bytes: usize) -> String {
    if text.len() <= bytes {
        return text.to_owned();
    }
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The verdict of a program that does not compile: `fail`, with the diagnostics (clipped) in
/// the details, so a model sees why.
fn compile_failure(rejected: &Rejected) -> Judgement {
    let first_error = rejected
        .diagnostics
        .lines()
        .find(|line| line.contains("error"))
        .unwrap_or_else(|| rejected.diagnostics.lines().next().unwrap_or(""));
    let reason = match rejected.reason {
        "errors" => format!("the program does not compile: {first_error}"),
        "cpu_limit" => "compiling the program took more than its CPU limit".to_owned(),
        "memory_limit" => "compiling the program took more than its memory limit".to_owned(),
        "output_limit" => "compiling the program wrote more than the file size limit".to_owned(),
        "too_large" => rejected.diagnostics.clone(),
        "invalid_module" => format!(
            "the compiled program cannot run here: {}",
            rejected.diagnostics
        ),
        other => format!("the compiler ended abnormally ({other}): {first_error}"),
    };
    Judgement::fail(reason).with_score(0.0).with_details(json!({
        "exit": "compile_error",
        "compile": rejected.reason,
        "millis": rejected.elapsed.as_millis() as u64,
        // The first errors explain the rest: the head is kept.
        "compiler_output": head(&rejected.diagnostics, 2000),
    }))
}

#[async_trait]
impl Judge for CodeJudge {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    fn check_item(&self, item: &Item) -> Result<(), InputError> {
        completion_prefix(&item.metadata)?;
        self.prepare(item).map(drop)
    }

    async fn judge_batch(&self, items: &[Arc<Item>]) -> Vec<Judgement> {
        let sandbox = match self.sandbox_or_errors(items) {
            Ok(sandbox) => sandbox,
            Err(errors) => return errors,
        };
        judge_each(items, sandbox.workers * 2, |item| {
            self.judge_item(sandbox, item)
        })
        .await
    }
}
