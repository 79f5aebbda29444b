//! C and C++ programs: compiled to WebAssembly by `compiler/`, loaded like plugins (validated,
//! compiled by Wasmtime once, cached on disk and in memory), and run like any guest.

use std::sync::Arc;
use std::time::Duration;

use super::compiler::{Dialect, Rejected};
use super::guest::{Guest, Workdir};
use super::{Exit, RunLimits, RunOutput, Sandbox, SandboxError};

/// A program ready to run: its module loaded, and what its compile said.
#[derive(Clone)]
pub struct CompiledProgram {
    guest: Arc<Guest>,
    /// The linear memory the program starts with (its static data and stack).
    initial_memory_bytes: usize,
    /// The compiler's warnings.
    pub diagnostics: String,
    /// Time spent compiling now (zero when it came from the cache).
    pub elapsed: Duration,
    pub cached: bool,
}

impl Sandbox {
    /// Compiles `source` to a loaded program. `Ok(Err(_))`: it does not compile (the
    /// program's fault, with the compiler's diagnostics).
    pub async fn compile(
        self: &Arc<Self>,
        dialect: Dialect,
        source: &str,
    ) -> Result<Result<CompiledProgram, Rejected>, SandboxError> {
        let compiler = self.compiler().map_err(SandboxError::RuntimeMissing)?;
        let program = match compiler.compile(dialect, source).await? {
            Ok(program) => program,
            Err(rejected) => return Ok(Err(rejected)),
        };
        let sandbox = Arc::clone(self);
        let wasm = Arc::clone(&program.wasm);
        let loaded = tokio::task::spawn_blocking(move || sandbox.programs.compile(&wasm))
            .await
            .map_err(|e| SandboxError::Internal(format!("loading the program failed: {e}")))?;
        // A module the sandbox will not run (an import it declared itself, too many table
        // elements) is the program's doing: it does not compile, as far as a judge is
        // concerned.
        let guest = match loaded {
            Ok(guest) => guest,
            Err(invalid) => {
                return Ok(Err(Rejected {
                    reason: "invalid_module",
                    diagnostics: invalid.to_string(),
                    elapsed: program.elapsed,
                }));
            }
        };
        let initial_memory_bytes = guest.initial_memory_bytes();
        Ok(Ok(CompiledProgram {
            guest,
            initial_memory_bytes,
            diagnostics: program.diagnostics,
            elapsed: program.elapsed,
            cached: program.cached,
        }))
    }

    /// Runs a compiled program with `args` (after argv[0]) and `stdin`, in a fresh instance.
    pub async fn run_program(
        &self,
        program: &CompiledProgram,
        args: &[String],
        stdin: Vec<u8>,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        if let Some(output) = too_big_to_start(program, &limits) {
            return Ok(output);
        }
        self.run_guest(Arc::clone(&program.guest), argv(args), stdin, limits, None)
            .await
    }

    /// Runs a compiled program in a fresh instance that sees `dir` as its root and working
    /// directory (read-write, within its quota).
    pub async fn run_program_in_dir(
        &self,
        program: &CompiledProgram,
        args: &[String],
        stdin: Vec<u8>,
        limits: RunLimits,
        dir: Workdir,
    ) -> Result<RunOutput, SandboxError> {
        if let Some(output) = too_big_to_start(program, &limits) {
            return Ok(output);
        }
        let guest = Arc::clone(&program.guest);
        self.run_guest(guest, argv(args), stdin, limits, Some(dir))
            .await
    }
}

fn argv(args: &[String]) -> Vec<String> {
    std::iter::once("main".to_owned())
        .chain(args.iter().cloned())
        .collect()
}

/// A program whose static data alone is past the run's memory limit ends as a memory failure,
/// the program's doing, without starting.
fn too_big_to_start(program: &CompiledProgram, limits: &RunLimits) -> Option<RunOutput> {
    (program.initial_memory_bytes > limits.memory_bytes).then(|| RunOutput {
        exit: Exit::Trap(format!(
            "the program needs {} MiB of memory at start (its static data and stack); the limit \
             is {} MiB",
            program.initial_memory_bytes >> 20,
            limits.memory_bytes >> 20
        )),
        stdout: Vec::new(),
        stderr: Vec::new(),
        memory_denied: true,
        elapsed: Duration::ZERO,
        fuel_used: 0,
    })
}
