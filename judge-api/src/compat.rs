//! The wire formats of other systems that moj serves natively, so their clients only change a
//! URL: OpenRLHF's remote reward protocol (`POST /v1/tasks/{name}/get_reward`) and
//! SandboxFusion's code-execution API (`POST /run_code`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /v1/tasks/{name}/get_reward` body: OpenRLHF's remote reward protocol
/// (`openrlhf/utils/agent.py` `_fetch_rewards_via_http`). Every other field that is a list with
/// one entry per query becomes that metadata field of each item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RewardRequest {
    /// Prompt + response, as the policy's tokenizer decoded them (special tokens included).
    pub query: Vec<String>,
    /// The prompts: each query's prefix, cut off to leave the response.
    #[serde(default)]
    pub prompts: Vec<String>,
    /// The dataset's label per query (`--data.label_key`): becomes `metadata.<label_key>`
    /// (`answer` unless the URL says `?label_key=...`); `""` or `null` is no label.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub labels: Vec<Value>,
    /// Further per-query lists (same length as `query`): metadata fields.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra: Map<String, Value>,
}

/// `POST /v1/tasks/{name}/get_reward` answer, as OpenRLHF reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RewardResponse {
    /// Per query: the pass reward (1) or the fail reward (0), or `error_reward` when the request
    /// opted into one for undecided items.
    pub rewards: Vec<f64>,
    /// The same values (OpenRLHF logs `scores`, trains on `rewards`).
    pub scores: Vec<f64>,
    /// Per query: `moj_pass`, `moj_error` and `moj/<judge>` (1 pass, 0 otherwise), each a list.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extra_logs: Map<String, Value>,
}

/// `POST /run_code` body: SandboxFusion's request (`sandbox/server/sandbox_api.py`), so its
/// clients (veRL's `sandbox_fusion` code reward among them) only change the URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RunCodeRequest {
    /// The program.
    pub code: String,
    /// `python` or `nodejs` (QuickJS); other SandboxFusion languages are refused by name.
    #[serde(default = "default_run_language")]
    pub language: String,
    /// The program's standard input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// Seconds; accepted and unused (no language here compiles).
    #[serde(default = "default_run_seconds")]
    pub compile_timeout: f64,
    /// Seconds of the run's budget (fuel, as for the code judge).
    #[serde(default = "default_run_seconds")]
    pub run_timeout: f64,
    /// MiB; `-1` (or 0) is the default, at most `sandbox.max_memory_mb`.
    #[serde(default = "default_memory_limit", rename = "memory_limit_MB")]
    pub memory_limit_mb: i64,
    /// Files the program can read (path -> base64 content) in its working directory.
    #[serde(default)]
    pub files: std::collections::BTreeMap<String, Option<String>>,
    /// Files to return after the run (base64 in `files` of the answer).
    #[serde(default)]
    pub fetch_files: Vec<String>,
}

fn default_run_language() -> String {
    "python".to_owned()
}

fn default_run_seconds() -> f64 {
    10.0
}

fn default_memory_limit() -> i64 {
    -1
}

/// SandboxFusion's overall status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum RunStatus {
    /// The program ran and exited with 0.
    Success,
    /// It exited with another code, ran out of time, or crashed.
    Failed,
    /// The sandbox could not run it (never the program's fault).
    SandboxError,
}

/// How one command (the run) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub enum CommandRunStatus {
    Finished,
    Error,
    TimeLimitExceeded,
}

/// One command's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CommandRunResult {
    pub status: CommandRunStatus,
    /// Seconds.
    pub execution_time: Option<f64>,
    pub return_code: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// `POST /run_code` answer: SandboxFusion's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RunCodeResponse {
    pub status: RunStatus,
    pub message: String,
    /// How the compile went (`cpp`, `c`); `null` for interpreted languages.
    pub compile_result: Option<CommandRunResult>,
    pub run_result: Option<CommandRunResult>,
    /// The fetched files (path -> base64).
    pub files: std::collections::BTreeMap<String, String>,
}
