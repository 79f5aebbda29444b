//! `plugin`: a user's own judge, a WASI command module registered with `PUT /v1/plugins`, run in
//! the Wasmtime sandbox under the same limits as generated code.
//!
//! Config: `{"module": "<sha256 from PUT /v1/plugins>", "timeout_ms": 10000, "memory_mb": 64,
//! "output_bytes": 65536}` (all but `module` optional).
//!
//! Protocol: the module reads one JSON object `{"prompt", "response", "metadata"}` on stdin and
//! writes one JSON object `{"verdict": "pass" | "fail", "score"?: 0..1, "reason"?: string,
//! "details"?: any}` on stdout, then exits with code 0. Anything else (another exit, a trap, a
//! timeout, more output than allowed, stdout that is not exactly such an object, unknown
//! fields) is an `error` verdict, never a pass or a fail.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use judge_api::Item;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::sandboxed::{Floors, Limits, Sandboxed, all_errors, check_limits, judge_each};
use super::{ConfigError, Fingerprint, Judge, JudgeContext, Judgement, KindSpec, parse_config};
use crate::sandbox::{Exit, Guest, RunLimits, Sandbox};

pub const KIND: KindSpec = KindSpec {
    name: "plugin",
    version: 1,
    description: "Runs a registered WASI judge plugin (PUT /v1/plugins): JSON {prompt, response, metadata} on stdin, {verdict, score?, reason?} on stdout.",
    build,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginConfig {
    module: String,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_memory_mb")]
    memory_mb: usize,
    #[serde(default = "default_output_bytes")]
    output_bytes: usize,
}

fn default_timeout_ms() -> u64 {
    10_000
}

fn default_memory_mb() -> usize {
    64
}

fn default_output_bytes() -> usize {
    64 * 1024
}

/// What a plugin may answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    verdict: String,
    score: Option<f64>,
    reason: Option<String>,
    details: Option<Value>,
}

type PluginJudge = Sandboxed<PluginConfig>;

fn build(config: &Value, context: &JudgeContext) -> Result<Arc<dyn Judge>, ConfigError> {
    let config: PluginConfig = parse_config(config)?;
    let invalid = |field: &str, message: String| {
        Err(ConfigError {
            field: format!("config.{field}"),
            message,
        })
    };
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if config.module.len() != 64 || !config.module.bytes().all(hex) {
        return invalid(
            "module",
            "must be the SHA-256 (64 lowercase hex digits) that PUT /v1/plugins answered".into(),
        );
    }
    let limits = Limits::new(config.timeout_ms, config.memory_mb, config.output_bytes);
    // The protocol's one JSON object needs 64 bytes of output.
    check_limits(context, &limits, Floors::new(1, 64))?;
    let fingerprint = Fingerprint::of(KIND.name, KIND.version, &config);
    Ok(PluginJudge::new(fingerprint, config, context))
}

/// Reads the plugin's stdout: exactly one JSON object of the protocol.
fn judgement_from(stdout: &[u8]) -> Judgement {
    let answer: Answer = match serde_json::from_slice(stdout) {
        Ok(answer) => answer,
        Err(error) => {
            let shown: String = String::from_utf8_lossy(stdout).chars().take(200).collect();
            return Judgement::error(format!(
                "the plugin's output is not a {{verdict, score?, reason?}} JSON object ({error}): {shown:?}"
            ));
        }
    };
    let reason = answer
        .reason
        .unwrap_or_else(|| format!("plugin verdict: {}", answer.verdict));
    let judgement = match answer.verdict.as_str() {
        "pass" => Judgement::pass(reason),
        "fail" => Judgement::fail(reason),
        other => {
            return Judgement::error(format!(
                "the plugin answered verdict {other:?}; expected \"pass\" or \"fail\""
            ));
        }
    };
    let judgement = match answer.score {
        Some(score) if (0.0..=1.0).contains(&score) => judgement.with_score(score),
        Some(score) => {
            return Judgement::error(format!("the plugin answered score {score}, not in [0, 1]"));
        }
        None => judgement,
    };
    match answer.details {
        Some(details) => judgement.with_details(details),
        None => judgement,
    }
}

impl PluginJudge {
    async fn judge_item(&self, sandbox: &Sandbox, guest: &Arc<Guest>, item: &Item) -> Judgement {
        let input =
            json!({"prompt": item.prompt, "response": item.response, "metadata": item.metadata});
        let limits = RunLimits {
            timeout: Duration::from_millis(self.config.timeout_ms),
            memory_bytes: self.config.memory_mb * 1024 * 1024,
            output_bytes: self.config.output_bytes,
        };
        let output = match sandbox
            .run_plugin(guest, input.to_string().into_bytes(), limits)
            .await
        {
            Ok(output) => output,
            Err(error) => return Judgement::error(error.to_string()),
        };
        let stderr: String = String::from_utf8_lossy(&output.stderr)
            .chars()
            .rev()
            .take(300)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        match &output.exit {
            Exit::Code(0) => judgement_from(&output.stdout),
            Exit::Code(code) => {
                Judgement::error(format!("the plugin exited with code {code}: {stderr}"))
            }
            Exit::Timeout => Judgement::error(format!(
                "the plugin timed out: it used up its budget of {} ms",
                self.config.timeout_ms
            )),
            Exit::WallClock => Judgement::error(format!(
                "the plugin was stopped by the wall-clock safety net after {} ms (host overloaded?)",
                output.elapsed.as_millis()
            )),
            Exit::OutputLimit => Judgement::error(format!(
                "the plugin wrote more than {} bytes",
                self.config.output_bytes
            )),
            Exit::Trap(message) => Judgement::error(format!("the plugin trapped: {message}")),
        }
    }
}

#[async_trait]
impl Judge for PluginJudge {
    fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    async fn judge_batch(&self, items: &[Arc<Item>]) -> Vec<Judgement> {
        let sandbox = match self.sandbox_or_errors(items) {
            Ok(sandbox) => sandbox,
            Err(errors) => return errors,
        };
        let guest = match sandbox.plugin(&self.config.module).await {
            Ok(guest) => guest,
            Err(error) => return all_errors(items, &error.to_string()),
        };
        judge_each(items, sandbox.workers * 2, |item| {
            self.judge_item(sandbox, &guest, item)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use judge_api::Verdict;

    #[test]
    fn reads_only_the_protocol() {
        let j = judgement_from(br#"{"verdict": "pass", "score": 0.5, "reason": "ok"}"#);
        assert_eq!(
            (j.verdict, j.score, j.reason.as_str()),
            (Verdict::Pass, Some(0.5), "ok")
        );
        assert_eq!(
            judgement_from(b"{\"verdict\":\"fail\"}\n").verdict,
            Verdict::Fail
        );
        for bad in [
            &b"PASS"[..],
            b"",
            b"{\"verdict\": \"maybe\"}",
            b"{\"verdict\": \"pass\", \"score\": 2}",
            b"{\"verdict\": \"pass\", \"extra\": 1}",
            b"{\"verdict\": \"pass\"} {\"verdict\": \"fail\"}",
            b"[\"pass\"]",
        ] {
            assert_eq!(judgement_from(bad).verdict, Verdict::Error, "{bad:?}");
        }
    }
}
