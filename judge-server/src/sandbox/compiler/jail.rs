//! Running the native compiler on untrusted source text, contained: a compiler is a large C++
//! program with a preprocessor that opens any path it is given (`#include "/etc/passwd"`), so
//! it runs with nothing of the host but its toolchain.
//!
//! - Files: Landlock (no privileges needed, works in an unprivileged container). The thread
//!   that starts the compiler restricts itself first (a fresh thread per compile: Landlock
//!   restrictions are per thread and cannot be lifted, so no thread of the server's pools is
//!   ever touched), and the compiler inherits it: the toolchain's trees are readable (and its
//!   binaries executable), the compile's own directory is writable, nothing else can be opened:
//!   not `/etc`, not `/proc/self/environ`, not `/dev/zero`, not the server's data.
//! - Network: Landlock's TCP rules with no port allowed (kernels with ABI 4+), and its scopes
//!   (ABI 6+): no connecting to abstract Unix sockets or signalling processes outside.
//! - Environment: empty but for `TMPDIR` (the compile's directory); stdin, stdout and stderr
//!   are files there (`RLIMIT_FSIZE` bounds them), not pipes a source could make it wait on.
//! - CPU, memory, file size: `setrlimit` in the child before it runs (`RLIMIT_CPU`, `RLIMIT_AS`,
//!   `RLIMIT_FSIZE`, no core dumps); a wall-clock deadline kills the whole process group (the
//!   driver and the linker it starts).
//!
//! Where Landlock is not enforced (an old kernel, a seccomp profile that blocks it) `check`
//! says why and the C and C++ languages stay off: nothing untrusted is compiled uncontained.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, RestrictionStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};

/// The newest Landlock ABI this code asks for (best effort below it).
const ABI_WANTED: ABI = ABI::V6;

/// What a jailed process may touch.
#[derive(Debug, Clone)]
pub struct Jail {
    /// Trees it may read and execute from (the toolchain, its libraries, the headers).
    pub read: Vec<PathBuf>,
}

/// The limits of one jailed run.
#[derive(Debug, Clone)]
pub struct Limits {
    pub cpu: Duration,
    pub memory_bytes: u64,
    pub file_bytes: u64,
    /// Kept of stdout and of stderr each; the rest is read and dropped.
    pub output_bytes: usize,
    /// The safety net: past it the process group is killed.
    pub wall: Duration,
}

/// How a jailed run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    /// Killed by a signal: `SIGXCPU`/`SIGKILL` after `RLIMIT_CPU`, `SIGXFSZ`, a crash.
    Signalled(i32),
    /// Still running at the wall-clock deadline (killed).
    WallClock,
}

#[derive(Debug)]
pub struct Finished {
    pub ended: Ended,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

/// Whether this kernel enforces Landlock for this process (tried on a throwaway thread).
pub fn check(jail: &Jail) -> Result<(), String> {
    let jail = jail.clone();
    std::thread::spawn(move || restrict(&jail, Path::new("/nonexistent-moj-dir")))
        .join()
        .map_err(|_| "the Landlock check panicked".to_owned())?
        .map(drop)
}

/// Landlock for the calling thread (and every process it starts): `jail.read` read-only and
/// executable, `dir` writable, no TCP, no abstract sockets or signals outside.
fn restrict(jail: &Jail, dir: &Path) -> Result<RestrictionStatus, String> {
    let read: Vec<&PathBuf> = jail.read.iter().filter(|p| p.exists()).collect();
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(ABI_WANTED))
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI_WANTED)))
        .and_then(|r| r.scope(Scope::from_all(ABI_WANTED)))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(read, AccessFs::from_read(ABI_WANTED))))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                [dir].into_iter().filter(|d| d.exists()),
                AccessFs::from_all(ABI_WANTED),
            ))
        })
        .and_then(|r| r.restrict_self())
        .map_err(|e| format!("Landlock: {e}"))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(
            "this kernel does not enforce Landlock (Linux 5.13+ with Landlock enabled \
                    is needed to contain the compiler)"
                .to_owned(),
        );
    }
    if !status.no_new_privs {
        return Err("could not set no_new_privs for the compiler".to_owned());
    }
    Ok(status)
}

/// Runs `program` with `args` in `dir` (its only writable place), jailed and limited.
/// `Err` is an infrastructure failure (the jail could not be set up, the program not
/// started); whatever the program does is in `Finished`.
pub fn run(
    jail: &Jail,
    dir: &Path,
    program: &Path,
    args: &[String],
    limits: &Limits,
) -> Result<Finished, String> {
    let jail = jail.clone();
    let dir = dir.to_owned();
    let program = program.to_owned();
    let args = args.to_vec();
    let limits = limits.clone();
    std::thread::Builder::new()
        .name("moj-compile".into())
        .spawn(move || {
            restrict(&jail, &dir)?;
            run_restricted(&dir, &program, &args, &limits)
        })
        .map_err(|e| format!("cannot start the compile thread: {e}"))?
        .join()
        .map_err(|_| "the compile thread panicked".to_owned())?
}

fn run_restricted(
    dir: &Path,
    program: &Path,
    args: &[String],
    limits: &Limits,
) -> Result<Finished, String> {
    let started = Instant::now();
    // stdin, stdout and stderr are regular files in the compile's own directory, never pipes:
    // Landlock does not cover pipes reopened through `/proc/self/fd`, and a source that
    // includes `/dev/stdout` would otherwise block the compiler on its own output for good.
    let file = |name: &str, write: bool| {
        std::fs::OpenOptions::new()
            .read(!write)
            .write(write)
            .create(write)
            .truncate(write)
            .open(dir.join(name))
            .map_err(|e| format!("cannot make the compiler's {name}: {e}"))
    };
    file(".stdin", true)?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("TMPDIR", dir)
        .stdin(Stdio::from(file(".stdin", false)?))
        .stdout(Stdio::from(file(".stdout", true)?))
        .stderr(Stdio::from(file(".stderr", true)?));
    let rlimits = [
        (libc::RLIMIT_CPU, limits.cpu.as_secs().max(1)),
        (libc::RLIMIT_AS, limits.memory_bytes),
        (libc::RLIMIT_FSIZE, limits.file_bytes),
        (libc::RLIMIT_CORE, 0),
    ];
    // SAFETY: between fork and exec the closure calls only async-signal-safe system calls
    // (setpgid, setrlimit) on values prepared before the fork; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for (resource, value) in rlimits {
                let limit = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    let ended = wait(&mut child, started + limits.wall)?;
    let read = |name: &str| -> Vec<u8> {
        let mut kept = Vec::new();
        if let Ok(file) = std::fs::File::open(dir.join(name)) {
            let _ = file.take(limits.output_bytes as u64).read_to_end(&mut kept);
        }
        kept
    };
    Ok(Finished {
        ended,
        stdout: read(".stdout"),
        stderr: read(".stderr"),
        elapsed: started.elapsed(),
    })
}

/// Waits for `child` until `deadline`; past it kills its process group.
fn wait(child: &mut Child, deadline: Instant) -> Result<Ended, String> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Ok(match (status.code(), status.signal()) {
                    (Some(code), _) => Ended::Exited(code),
                    (None, Some(signal)) => Ended::Signalled(signal),
                    (None, None) => Ended::Signalled(0),
                });
            }
            Ok(None) if Instant::now() >= deadline => {
                // SAFETY: kill(2) on the child's own process group (set in pre_exec).
                unsafe {
                    libc::kill(-(child.id() as i32), libc::SIGKILL);
                }
                let _ = child.wait();
                return Ok(Ended::WallClock);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("waiting for the compiler: {e}")),
        }
    }
}
