//! `code`: runs the program in the response against the item's tests inside the WebAssembly
//! sandbox (CPython 3.12 or QuickJS-ng for WASI). Passes only if every test passes.
//!
//! The language is `metadata.language` when the item names one (`"python"`, `"javascript"` or
//! `"js"`, `"python3.15"` for the opt-in CPython 3.15 with numpy/pandas/scipy/scikit-learn), else
//! the config's `language` (default `"python"`). Each language is a `Harness`
//! (`harness.rs`: Python; `javascript.rs`: JavaScript).
//!
//! Config (all optional):
//! ```json
//! {"language": "python", "extract": "last_fence_or_whole", "timeout_ms": 60000, "memory_mb": 256,
//!  "output_bytes": 1048576, "relative_tolerance": 1e-5, "case_insensitive": false}
//! ```
//! Tests come from metadata (see `spec.rs`: HumanEval, MBPP, `unit_tests`, APPS, `stdio`).
//! Details: per-test outcomes, the exit reason (`ok`, `assertion`, `exception`, `timeout`,
//! `memory`, `output_limit`, `crash`, `no_result`), and stdout/stderr tails. Infrastructure
//! problems (runtime missing, queue full, sandbox failure) are `error`, never pass or fail.

mod harness;
mod javascript;
mod outcome;
mod spec;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use judge_api::Item;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::sandboxed::{check_limits, judge_each};
use super::{
    ConfigError, Fingerprint, InputError, Judge, JudgeContext, Judgement, KindSpec, parse_config,
};
use crate::sandbox::{Exit, Language, RunLimits, RunOutput, Sandbox, SandboxError};
use harness::{Harness, Invocation, TestRun};
use moj_code::{Comparison, Extraction, outputs_match};
use outcome::{TestsRan, describe_abnormal, exit_reason, last_line, tail, wall_clock_error};
use spec::TestSpec;

pub const KIND: KindSpec = KindSpec {
    name: "code",
    version: 3,
    description: "Runs the response's program against the item's unit tests in the Wasmtime sandbox (Python: CPython 3.12 for WASI; JavaScript: QuickJS-ng for WASI).",
    build,
};

/// The harness that runs tests in `language`.
fn harness_for(language: Language) -> &'static dyn Harness {
    match language {
        Language::Python => &harness::PYTHON,
        Language::JavaScript => &javascript::JAVASCRIPT,
        Language::Python315 => &harness::PYTHON_315,
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
pub fn script_invocation(language: Language, program: &str, input: &str) -> (Vec<String>, Vec<u8>) {
    let Invocation { args, stdin } = harness_for(language).stdio(program, input);
    (args, stdin)
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

struct CodeJudge {
    fingerprint: Fingerprint,
    config: CodeConfig,
    sandbox: Option<Arc<Sandbox>>,
}

fn build(config: &Value, context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config: CodeConfig = parse_config(config)?;
    let invalid = |field: &str, message: &str| {
        Err(ConfigError {
            field: format!("config.{field}"),
            message: message.into(),
        })
    };
    if config.timeout_ms == 0 {
        return invalid("timeout_ms", "must be at least 1");
    }
    if config.memory_mb < 32 {
        return invalid("memory_mb", "CPython needs at least 32 MiB");
    }
    if config.output_bytes < 1024 {
        return invalid("output_bytes", "must be at least 1024");
    }
    if !(config.relative_tolerance >= 0.0 && config.relative_tolerance.is_finite()) {
        return invalid("relative_tolerance", "must be a finite number >= 0");
    }
    check_limits(
        context,
        config.timeout_ms,
        config.memory_mb,
        config.output_bytes,
    )?;
    // The runtime is part of the judge's identity: another interpreter may judge differently.
    let runtime = Language::ALL
        .iter()
        .map(|&language| {
            let sha256 = context
                .sandbox
                .as_ref()
                .and_then(|sandbox| sandbox.runtime_sha256(language))
                .unwrap_or_else(|| "none".to_owned());
            (language.name(), sha256)
        })
        .collect();
    Ok(Arc::new(CodeJudge {
        fingerprint: Fingerprint::of(
            KIND.name,
            KIND.version,
            &Identity {
                config: &config,
                runtime_sha256: runtime,
                harness_sha256: harness_sha256(),
            },
        ),
        config,
        sandbox: context.sandbox.clone(),
    }))
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
                message: "must be \"python\", \"javascript\" (or \"js\") or \"python3.15\"".into(),
            }),
        }
    }

    async fn judge_item(&self, sandbox: &Sandbox, item: &Item) -> Judgement {
        let checked = self
            .language(item)
            .and_then(|language| Ok((language, spec::from_metadata(&item.metadata)?)));
        let (language, spec) = match checked {
            Ok(checked) => checked,
            Err(error) => return Judgement::error(format!("{}: {}", error.field, error.message)),
        };
        let harness = harness_for(language);
        if let Err(message) = sandbox.availability(harness.language()) {
            return Judgement::error(message);
        }
        let program = match completion_prefix(&item.metadata) {
            Ok(Some(prefix)) => format!("{prefix}{}", item.response),
            Ok(None) => {
                match moj_code::extract(&item.response, harness.fence_tags(), self.config.extract) {
                    Some(solution) => solution.to_owned(),
                    None => {
                        return Judgement::fail("no fenced code block in the response")
                            .with_details(json!({"exit": "no_program"}));
                    }
                }
            }
            Err(error) => return Judgement::error(format!("{}: {}", error.field, error.message)),
        };
        match &spec {
            TestSpec::Stdio { cases } => self.judge_stdio(sandbox, harness, &program, cases).await,
            _ => self.judge_asserts(sandbox, harness, &program, &spec).await,
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
        let Some(run) = harness.tests(solution, spec, &nonce, self.config.relative_tolerance)
        else {
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

    async fn judge_stdio(
        &self,
        sandbox: &Sandbox,
        harness: &dyn Harness,
        solution: &str,
        cases: &[(String, String)],
    ) -> Judgement {
        let comparison = Comparison {
            relative_tolerance: self.config.relative_tolerance,
            case_insensitive: self.config.case_insensitive,
        };
        let mut outcomes = Vec::with_capacity(cases.len());
        let mut first_failure: Option<String> = None;
        let mut passed = 0;
        for (index, (input, expected)) in cases.iter().enumerate() {
            let output = match self
                .run(sandbox, harness, harness.stdio(solution, input))
                .await
            {
                Ok(output) => output,
                Err(error) => return Judgement::error(error.to_string()),
            };
            if output.exit == Exit::WallClock {
                return wall_clock_error(&output);
            }
            let stdout = String::from_utf8_lossy(&output.stdout);
            let verdict = match &output.exit {
                Exit::Code(0) => outputs_match(&stdout, expected, comparison)
                    .map_err(|diff| ("wrong_answer", diff)),
                Exit::Code(code) => Err((
                    exit_reason(&output, harness),
                    format!("exited with code {code}: {}", last_line(&output.stderr)),
                )),
                exit => Err((
                    exit_reason(&output, harness),
                    describe_abnormal(exit, &output),
                )),
            };
            match verdict {
                Ok(()) => {
                    passed += 1;
                    outcomes.push(
                        json!({"outcome": "pass", "millis": output.elapsed.as_millis() as u64}),
                    );
                }
                Err((reason, message)) => {
                    first_failure.get_or_insert_with(|| format!("case {index}: {message}"));
                    outcomes.push(json!({
                        "outcome": reason, "message": message, "millis": output.elapsed.as_millis() as u64,
                        "stdout_tail": tail(&output.stdout), "stderr_tail": tail(&output.stderr),
                    }));
                }
            }
        }
        let score = passed as f64 / cases.len() as f64;
        let details = json!({"tests": outcomes, "exit": if first_failure.is_none() { "ok" } else { "wrong_answer" }});
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
}

#[async_trait]
impl Judge for CodeJudge {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    fn check_item(&self, item: &Item) -> Result<(), InputError> {
        self.language(item)?;
        completion_prefix(&item.metadata)?;
        spec::from_metadata(&item.metadata).map(drop)
    }

    async fn judge_batch(&self, items: &[Arc<Item>]) -> Vec<Judgement> {
        let Some(sandbox) = &self.sandbox else {
            return items
                .iter()
                .map(|_| Judgement::error("the sandbox is not running in this process"))
                .collect();
        };
        judge_each(items, sandbox.workers * 2, |item| {
            self.judge_item(sandbox, item)
        })
        .await
    }
}
