//! `python`: a judge written by the user in Python, run in the Wasmtime sandbox.
//!
//! Config: `{"source": "def judge(prompt, response, metadata):\n    return 'yes' in response",
//! "timeout_ms": 10000, "memory_mb": 256}`. `judge` receives the prompt (a string, or the list of
//! OpenAI-style messages), the response and the metadata object, and returns a bool, or a dict
//! `{"verdict": "pass" | "fail", "score"?: number, "reason"?: string}`. Anything else — an
//! exception, a timeout, another return value — is `error`: the judge could not decide.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use judge_api::Item;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::code::nonce;
use super::sandboxed::{
    Floors, Limits, Sandboxed, all_errors, check_limits, judge_each, runtime_sha256,
};
use super::{ConfigError, Fingerprint, Judge, JudgeContext, Judgement, KindSpec, parse_config};
use crate::sandbox::{Exit, Language, RunLimits, Sandbox};

pub const KIND: KindSpec = KindSpec {
    name: "python",
    version: 1,
    description: "A user-written Python function judge(prompt, response, metadata) run in the Wasmtime sandbox.",
    build,
};

/// Cap on the judge's stdout and stderr, each.
const OUTPUT_BYTES: usize = 1024 * 1024;

const HARNESS: &str = r#"
import sys as _moj_sys, json as _moj_json
def _moj_main(nonce, source, _loads=_moj_json.loads, _dumps=_moj_json.dumps, _exec=exec, _compile=compile,
              _str=str, _type=type, _isinstance=isinstance, _bool=bool, _dict=dict, _float=float, _int=int,
              _BaseException=BaseException, _write=_moj_sys.stdout.write, _flush=_moj_sys.stdout.flush,
              _read=_moj_sys.stdin.read):
    def report(value):
        _write("\n" + nonce + " " + _dumps(value) + "\n")
        _flush()
    item = _loads(_read())
    namespace = {"__name__": "moj_judge"}
    try:
        _exec(_compile(source, "<judge source>", "exec"), namespace)
        result = namespace["judge"](item["prompt"], item["response"], item["metadata"])
    except _BaseException as error:
        report({"error": _type(error).__name__ + ": " + _str(error)})
        return
    if _isinstance(result, _bool):
        report({"verdict": "pass" if result else "fail"})
    elif _isinstance(result, _dict):
        verdict = result.get("verdict")
        score = result.get("score")
        if verdict not in ("pass", "fail") or (score is not None and not _isinstance(score, (_int, _float))):
            report({"error": "judge() returned %r; expected a bool or {'verdict': 'pass'|'fail', 'score'?, 'reason'?}" % (result,)})
        else:
            report({"verdict": verdict, "score": score, "reason": _str(result.get("reason", ""))})
    else:
        report({"error": "judge() returned %r; expected a bool or a dict" % (result,)})
"#;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PythonConfig {
    source: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_memory_mb")]
    memory_mb: usize,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_memory_mb() -> usize {
    256
}

#[derive(Serialize)]
struct Identity<'a> {
    #[serde(flatten)]
    config: &'a PythonConfig,
    runtime_sha256: String,
}

type PythonJudge = Sandboxed<PythonConfig>;

fn build(config: &Value, context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config: PythonConfig = parse_config(config)?;
    if !config.source.contains("def judge") {
        return Err(ConfigError {
            field: "config.source".into(),
            message: "must define judge(prompt, response, metadata)".into(),
        });
    }
    let limits = Limits::new(config.timeout_ms, config.memory_mb, OUTPUT_BYTES);
    // CPython needs 32 MiB.
    check_limits(context, &limits, Floors::new(32, 0))?;
    let identity = Identity {
        config: &config,
        runtime_sha256: runtime_sha256(context, Language::Python),
    };
    let fingerprint = Fingerprint::of(KIND.name, KIND.version, &identity);
    Ok(PythonJudge::new(fingerprint, config, context))
}

impl PythonJudge {
    async fn judge_item(&self, sandbox: &Sandbox, item: &Item) -> Judgement {
        let nonce = nonce();
        let program = format!(
            "{HARNESS}_moj_main({}, {})\n",
            serde_json::to_string(&nonce).expect("JSON"),
            serde_json::to_string(&self.config.source).expect("JSON")
        );
        let input =
            json!({"prompt": item.prompt, "response": item.response, "metadata": item.metadata});
        let limits = RunLimits {
            timeout: Duration::from_millis(self.config.timeout_ms),
            memory_bytes: self.config.memory_mb * 1024 * 1024,
            output_bytes: OUTPUT_BYTES,
        };
        let output = match sandbox
            .run(
                Language::Python,
                &["-c".to_owned(), program],
                input.to_string().into_bytes(),
                limits,
            )
            .await
        {
            Ok(output) => output,
            Err(error) => return Judgement::error(error.to_string()),
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        let prefix = format!("{nonce} ");
        let report = stdout
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|l| serde_json::from_str::<Value>(l).ok());
        match (&output.exit, report) {
            (Exit::Code(0), Some(report)) => {
                if let Some(error) = report["error"].as_str() {
                    return Judgement::error(format!(
                        "the judge raised or returned garbage: {error}"
                    ));
                }
                let reason = report["reason"]
                    .as_str()
                    .filter(|r| !r.is_empty())
                    .unwrap_or("judge() decided")
                    .to_owned();
                let judgement = if report["verdict"] == "pass" {
                    Judgement::pass(reason)
                } else {
                    Judgement::fail(reason)
                };
                match report["score"].as_f64() {
                    Some(score) => judgement.with_score(score),
                    None => judgement,
                }
            }
            (Exit::Timeout, _) => Judgement::error(format!(
                "the judge timed out after {} ms",
                self.config.timeout_ms
            )),
            (exit, _) => Judgement::error(format!(
                "the judge did not report ({exit:?}): {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            )),
        }
    }
}

#[async_trait]
impl Judge for PythonJudge {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    async fn judge_batch(&self, items: &[Arc<Item>]) -> Vec<Judgement> {
        let sandbox = match self.sandbox_or_errors(items) {
            Ok(sandbox) => sandbox,
            Err(errors) => return errors,
        };
        if let Err(message) = sandbox.availability(Language::Python) {
            return all_errors(items, &message);
        }
        judge_each(items, sandbox.workers * 2, |item| {
            self.judge_item(sandbox, item)
        })
        .await
    }
}
