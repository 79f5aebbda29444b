//! `POST /run_code`: SandboxFusion's code-execution API on moj's sandbox, so a SandboxFusion
//! client (veRL's `verl/utils/reward_score/sandbox_fusion/utils.py` `call_sandbox_api`, and many
//! others) uses moj by changing only the URL.
//!
//! Status rules as SandboxFusion's: exit code 0 is `Success`; another exit code, running out of
//! time or crashing is `Failed` (with `run_result.status` `Finished`, `TimeLimitExceeded` or
//! `Error`); a run the sandbox could not do (the runtime missing, the host too slow for the
//! safety net) is `SandboxError`. `python` runs CPython 3.12 (WASI) as `python -c`, so
//! `__name__ == "__main__"`; `nodejs` runs QuickJS-ng, not Node (no `require`, no npm; ES2023 and
//! QuickJS's `std`/`os` modules instead); `cpp` and `c` are compiled to WebAssembly first
//! (`sandbox/compiler`; `compile_result` says how: `Finished` with the diagnostics on stderr and
//! a non-zero `return_code` when it does not compile, then the answer is `Failed`). `files` are written into a fresh directory the program
//! sees as `/`, its working directory; `fetch_files` are read back from it afterwards.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use judge_api::{CommandRunResult, CommandRunStatus, RunCodeRequest, RunCodeResponse, RunStatus};

use super::extract::ApiJson;
use super::{ApiError, App};
use crate::client::ClientId;
use crate::metrics::RunCodeLabels;
use crate::sandbox::compiler::{CStandard, CppStandard, Dialect};
use crate::sandbox::queue::{LANE, new_batch};
use crate::sandbox::{
    CompiledProgram, Exit, Language, RunLimits, RunOutput, Sandbox, SandboxError, Workdir,
};

/// Memory when the request says `-1` (SandboxFusion's "default"), capped by the sandbox's ceiling.
const DEFAULT_MEMORY_MB: usize = 1024;

/// What one request asks the sandbox for, checked.
struct Plan {
    language: Language,
    language_label: &'static str,
    limits: RunLimits,
    /// (the request's name, the path inside the run's directory, the content)
    files: Vec<(String, PathBuf, Vec<u8>)>,
    fetch: Vec<(String, PathBuf)>,
}

#[utoipa::path(
    post, path = "/run_code", tag = "sandbox",
    request_body = RunCodeRequest,
    responses(
        (status = 200, description = "How the run ended (SandboxFusion's statuses)", body = RunCodeResponse),
        (status = 422, description = "Unsupported language, a limit above the sandbox's ceiling, a bad file (named)", body = judge_api::ErrorBody),
        (status = 503, description = "Saturated; retry after the Retry-After header", body = judge_api::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn run_code(
    State(app): State<Arc<App>>,
    Extension(client): Extension<ClientId>,
    ApiJson(request): ApiJson<RunCodeRequest>,
) -> Result<Json<RunCodeResponse>, ApiError> {
    let sandbox = Arc::clone(&app.sandbox);
    let plan = plan(&request, &sandbox)?;
    let _permit = app.admit(1, client).await?;
    // The run takes its turn in the sandbox queue as this client's.
    let response = LANE
        .scope(new_batch(client), run(&sandbox, &request, &plan))
        .await?;
    app.metrics
        .run_code
        .get_or_create(&RunCodeLabels {
            language: plan.language_label,
            status: status_label(response.status),
        })
        .inc();
    Ok(Json(response))
}

/// The request checked against the sandbox's ceilings; every refusal names its field.
fn plan(request: &RunCodeRequest, sandbox: &Sandbox) -> Result<Plan, ApiError> {
    let (language, language_label) = match request.language.as_str() {
        "python" | "python3" => (Language::Python, "python"),
        "nodejs" | "javascript" | "js" => (Language::JavaScript, "nodejs"),
        "cpp" | "c++" => (Language::Cpp, "cpp"),
        "c" => (Language::C, "c"),
        other => {
            return Err(ApiError::unprocessable(
                "unsupported_language",
                format!("language {other:?} is not run here; this server runs \"python\" (CPython 3.12), \"nodejs\" (QuickJS-ng), \"cpp\" and \"c\" (clang to WebAssembly)"),
            )
            .at("language"));
        }
    };
    let ceilings = sandbox.limits();
    let max_seconds = ceilings.max_timeout_ms as f64 / 1000.0;
    if !(request.run_timeout.is_finite() && request.run_timeout > 0.0)
        || request.run_timeout > max_seconds
    {
        return Err(ApiError::unprocessable(
            "invalid_limit",
            format!(
                "run_timeout must be above 0 and at most {max_seconds} s (sandbox.max_timeout_ms)"
            ),
        )
        .at("run_timeout"));
    }
    let memory_mb = match request.memory_limit_mb {
        mb if mb <= 0 => DEFAULT_MEMORY_MB.min(ceilings.max_memory_mb),
        mb if mb as u64 > ceilings.max_memory_mb as u64 => {
            return Err(ApiError::unprocessable(
                "invalid_limit",
                format!(
                    "memory_limit_MB is at most {} (sandbox.max_memory_mb)",
                    ceilings.max_memory_mb
                ),
            )
            .at("memory_limit_MB"));
        }
        mb => mb as usize,
    };
    let quota = ceilings.max_output_bytes;
    let mut files = Vec::with_capacity(request.files.len());
    let mut total = 0usize;
    for (name, content) in &request.files {
        let field = format!("files.{name}");
        let path = relative_path(name).ok_or_else(|| bad_path(&field))?;
        let bytes = match content {
            None => Vec::new(),
            Some(text) => BASE64.decode(text.as_bytes()).map_err(|e| {
                ApiError::unprocessable("invalid_file", format!("not base64: {e}"))
                    .at(field.clone())
            })?,
        };
        total += bytes.len();
        if total > quota {
            return Err(ApiError::too_large(
                "field_too_large",
                format!("the files exceed {quota} bytes (sandbox.max_output_bytes)"),
            )
            .at(field));
        }
        files.push((name.clone(), path, bytes));
    }
    let fetch = request
        .fetch_files
        .iter()
        .enumerate()
        .map(|(i, name)| {
            relative_path(name)
                .map(|path| (name.clone(), path))
                .ok_or_else(|| bad_path(&format!("fetch_files[{i}]")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Plan {
        language,
        language_label,
        limits: RunLimits {
            timeout: Duration::from_secs_f64(request.run_timeout),
            memory_bytes: memory_mb * 1024 * 1024,
            output_bytes: quota,
        },
        files,
        fetch,
    })
}

/// `name` as a path inside the run's directory: `/a/b`, `./a/b` and `a/b` are `a/b`; `..` and
/// empty names are refused.
fn relative_path(name: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    (!path.as_os_str().is_empty()).then_some(path)
}

fn bad_path(field: &str) -> ApiError {
    ApiError::unprocessable(
        "invalid_file",
        "a file path must name a file inside the run's directory (no `..`)",
    )
    .at(field)
}

/// The program as the sandbox runs it: an interpreter's arguments, or a compiled module.
enum Runnable {
    Script {
        args: Vec<String>,
        stdin: Vec<u8>,
    },
    Compiled {
        program: CompiledProgram,
        stdin: Vec<u8>,
    },
}

/// Compiles C and C++ (`Err`: the answer, when it does not compile or cannot be compiled);
/// `compile_result` says how it went.
async fn prepare(
    sandbox: &Arc<Sandbox>,
    request: &RunCodeRequest,
    plan: &Plan,
) -> Result<(Runnable, Option<CommandRunResult>), RunCodeResponse> {
    let stdin = request.stdin.as_deref().unwrap_or("").as_bytes().to_vec();
    let dialect = match plan.language {
        Language::C => Dialect::C(CStandard::default()),
        Language::Cpp => Dialect::Cpp(CppStandard::default()),
        language => {
            let (args, stdin) = crate::judges::script_invocation(
                language,
                &request.code,
                request.stdin.as_deref().unwrap_or(""),
            )
            .unwrap_or_default();
            return Ok((Runnable::Script { args, stdin }, None));
        }
    };
    let compiled = match sandbox.compile(dialect, &request.code).await {
        Ok(compiled) => compiled,
        Err(error) => return Err(sandbox_error(error.to_string(), BTreeMap::new())),
    };
    match compiled {
        Ok(program) => {
            let result = CommandRunResult {
                status: CommandRunStatus::Finished,
                execution_time: Some(program.elapsed.as_secs_f64()),
                return_code: Some(0),
                stdout: Some(String::new()),
                stderr: Some(program.diagnostics.clone()),
            };
            Ok((Runnable::Compiled { program, stdin }, Some(result)))
        }
        Err(rejected) => {
            let status = match rejected.reason {
                "cpu_limit" => CommandRunStatus::TimeLimitExceeded,
                "errors" => CommandRunStatus::Finished,
                _ => CommandRunStatus::Error,
            };
            Err(RunCodeResponse {
                status: RunStatus::Failed,
                message: format!("the program does not compile ({})", rejected.reason),
                compile_result: Some(CommandRunResult {
                    status,
                    execution_time: Some(rejected.elapsed.as_secs_f64()),
                    return_code: Some(1),
                    stdout: Some(String::new()),
                    stderr: Some(rejected.diagnostics),
                }),
                run_result: None,
                files: BTreeMap::new(),
            })
        }
    }
}

/// Runs the program (in a fresh directory when files go in or come out) and answers as
/// SandboxFusion does.
async fn run(
    sandbox: &Arc<Sandbox>,
    request: &RunCodeRequest,
    plan: &Plan,
) -> Result<RunCodeResponse, ApiError> {
    let (runnable, compile_result) = match prepare(sandbox, request, plan).await {
        Ok(prepared) => prepared,
        Err(answer) => return Ok(answer),
    };
    if plan.files.is_empty() && plan.fetch.is_empty() {
        let ran = match runnable {
            Runnable::Script { args, stdin } => {
                sandbox
                    .run(plan.language, &args, stdin, plan.limits.clone())
                    .await
            }
            Runnable::Compiled { program, stdin } => {
                sandbox
                    .run_program(&program, &[], stdin, plan.limits.clone())
                    .await
            }
        };
        return Ok(answer(ran, compile_result, BTreeMap::new()));
    }
    let dir = work_directory()
        .map_err(|e| ApiError::internal(format!("cannot make a work directory: {e}")))?;
    for (name, path, bytes) in &plan.files {
        write_file(dir.path(), path, bytes).map_err(|e| match e.kind() {
            // Another entry is a file where this one needs a folder, or the reverse.
            std::io::ErrorKind::NotADirectory
            | std::io::ErrorKind::IsADirectory
            | std::io::ErrorKind::AlreadyExists => ApiError::unprocessable(
                "invalid_file",
                format!("cannot be written: {e} (another entry is in its way)"),
            )
            .at(format!("files.{name}")),
            _ => ApiError::internal(format!("cannot write {}: {e}", path.display())),
        })?;
    }
    let workdir = Workdir {
        host: dir.path().to_path_buf(),
        quota_bytes: plan.limits.output_bytes as u64,
    };
    let ran = match runnable {
        Runnable::Script { args, stdin } => {
            sandbox
                .run_in_dir(plan.language, &args, stdin, plan.limits.clone(), workdir)
                .await
        }
        Runnable::Compiled { program, stdin } => {
            sandbox
                .run_program_in_dir(&program, &[], stdin, plan.limits.clone(), workdir)
                .await
        }
    };
    let fetched = fetch_files(dir.path(), &plan.fetch, plan.limits.output_bytes);
    Ok(answer(ran, compile_result, fetched))
}

/// A fresh directory, in memory (`/dev/shm`) where the host has one.
fn work_directory() -> std::io::Result<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let mut builder = tempfile::Builder::new();
    builder.prefix("moj-run-");
    if shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return Ok(dir);
    }
    builder.tempdir()
}

fn write_file(root: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let full = root.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(full, bytes)
}

/// The requested files that exist after the run, base64, within `budget` bytes in all. The
/// program may have made links (`a -> ../../etc`): a path is read only when it resolves inside
/// the run's directory, to a regular file.
fn fetch_files(
    root: &Path,
    fetch: &[(String, PathBuf)],
    budget: usize,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut used = 0usize;
    let Ok(root) = root.canonicalize() else {
        return out;
    };
    for (name, path) in fetch {
        // The canonical path has no links left; the run is over, so nothing changes it.
        let Ok(full) = root.join(path).canonicalize() else {
            continue;
        };
        if !full.starts_with(&root) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&full) else {
            continue;
        };
        if !meta.is_file() || used + meta.len() as usize > budget {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&full) {
            used += bytes.len();
            out.insert(name.clone(), BASE64.encode(bytes));
        }
    }
    out
}

/// SandboxFusion's answer for a run.
fn answer(
    ran: Result<RunOutput, SandboxError>,
    compile_result: Option<CommandRunResult>,
    files: BTreeMap<String, String>,
) -> RunCodeResponse {
    let output = match ran {
        Ok(output) => output,
        Err(error) => return sandbox_error(error.to_string(), files),
    };
    let text = |bytes: &[u8]| Some(String::from_utf8_lossy(bytes).into_owned());
    let (status, return_code, message, note) = match &output.exit {
        Exit::Code(0) => (CommandRunStatus::Finished, Some(0), String::new(), None),
        Exit::Code(code) => (CommandRunStatus::Finished, Some(*code), String::new(), None),
        Exit::Timeout => (
            CommandRunStatus::TimeLimitExceeded,
            None,
            "the program ran out of time".to_owned(),
            None,
        ),
        Exit::OutputLimit => (
            CommandRunStatus::Error,
            None,
            "the program's output (or files) reached the sandbox's limit".to_owned(),
            Some("moj: output limit reached (sandbox.max_output_bytes)"),
        ),
        Exit::Trap(reason) => (
            CommandRunStatus::Error,
            None,
            format!("the program crashed: {reason}"),
            None,
        ),
        Exit::WallClock => {
            return sandbox_error(
                "the host was too slow to finish the run within the safety net; retry".to_owned(),
                files,
            );
        }
    };
    let mut stderr = text(&output.stderr).unwrap_or_default();
    if let Some(note) = note {
        stderr.push_str(note);
    }
    let success = status == CommandRunStatus::Finished && return_code == Some(0);
    RunCodeResponse {
        status: if success {
            RunStatus::Success
        } else {
            RunStatus::Failed
        },
        message,
        compile_result,
        run_result: Some(CommandRunResult {
            status,
            execution_time: Some(output.elapsed.as_secs_f64()),
            return_code,
            stdout: text(&output.stdout),
            stderr: Some(stderr),
        }),
        files,
    }
}

fn sandbox_error(message: String, files: BTreeMap<String, String>) -> RunCodeResponse {
    RunCodeResponse {
        status: RunStatus::SandboxError,
        message,
        compile_result: None,
        run_result: None,
        files,
    }
}

fn status_label(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Success => "Success",
        RunStatus::Failed => "Failed",
        RunStatus::SandboxError => "SandboxError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_stay_inside_the_run_directory() {
        assert_eq!(relative_path("/a/b.txt"), Some(PathBuf::from("a/b.txt")));
        assert_eq!(relative_path("./data.txt"), Some(PathBuf::from("data.txt")));
        assert_eq!(relative_path("../etc/passwd"), None);
        assert_eq!(relative_path("a/../../b"), None);
        assert_eq!(relative_path("/"), None);
        assert_eq!(relative_path(""), None);
    }

    #[test]
    fn statuses_follow_sandboxfusion() {
        let out = |exit| RunOutput {
            exit,
            stdout: b"x".to_vec(),
            stderr: Vec::new(),
            memory_denied: false,
            elapsed: Duration::from_millis(5),
            fuel_used: 0,
        };
        let ok = answer(Ok(out(Exit::Code(0))), None, BTreeMap::new());
        assert_eq!(ok.status, RunStatus::Success);
        assert_eq!(ok.run_result.unwrap().stdout.as_deref(), Some("x"));
        let failed = answer(Ok(out(Exit::Code(3))), None, BTreeMap::new());
        assert_eq!(failed.status, RunStatus::Failed);
        assert_eq!(failed.run_result.unwrap().return_code, Some(3));
        let slow = answer(Ok(out(Exit::Timeout)), None, BTreeMap::new());
        assert_eq!(slow.status, RunStatus::Failed);
        assert_eq!(
            slow.run_result.unwrap().status,
            CommandRunStatus::TimeLimitExceeded
        );
        assert_eq!(
            answer(Ok(out(Exit::WallClock)), None, BTreeMap::new()).status,
            RunStatus::SandboxError
        );
        let missing = answer(
            Err(SandboxError::RuntimeMissing("no qjs".into())),
            None,
            BTreeMap::new(),
        );
        assert_eq!(missing.status, RunStatus::SandboxError);
        assert!(missing.run_result.is_none());
    }
}
