//! C and C++ programs: compiled to WebAssembly by `compiler/`, loaded like plugins (validated,
//! compiled by Wasmtime once, cached on disk and in memory), and run like any guest.

use std::sync::Arc;
use std::time::Duration;

use super::compiler::{Dialect, Rejected};
use super::guest::{Guest, Io, Workdir};
use super::{RunLimits, RunOutput, Sandbox, SandboxError};

/// A program ready to run: its module loaded, and what its compile said.
#[derive(Clone)]
pub struct CompiledProgram {
    guest: Arc<Guest>,
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
        let guest = tokio::task::spawn_blocking(move || sandbox.programs.compile(&wasm))
            .await
            .map_err(|e| SandboxError::Internal(format!("loading the program failed: {e}")))?
            .map_err(|e| SandboxError::Internal(format!("the compiled program: {e}")))?;
        Ok(Ok(CompiledProgram {
            guest,
            diagnostics: program.diagnostics,
            elapsed: program.elapsed,
            cached: program.cached,
        }))
    }

    /// Runs a compiled program with `stdin`, in a fresh instance.
    pub async fn run_program(
        &self,
        program: &CompiledProgram,
        stdin: Vec<u8>,
        limits: RunLimits,
    ) -> Result<RunOutput, SandboxError> {
        self.run_guest(
            Arc::clone(&program.guest),
            vec!["main".to_owned()],
            stdin,
            limits,
        )
        .await
    }

    /// Runs a compiled program in a fresh instance that sees `dir` as its root and working
    /// directory (read-write, within its quota).
    pub async fn run_program_in_dir(
        &self,
        program: &CompiledProgram,
        stdin: Vec<u8>,
        limits: RunLimits,
        dir: Workdir,
    ) -> Result<RunOutput, SandboxError> {
        self.check_memory(&limits)?;
        let guest = Arc::clone(&program.guest);
        self.submit(move || {
            Box::pin(async move {
                let io = Io {
                    dir: Some(dir),
                    ..Io::bytes(stdin)
                };
                guest.run(&["main".to_owned()], io, &limits).await
            })
        })
        .await
    }
}
