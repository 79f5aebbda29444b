//! Two instances that talk through pipes (the code judge's solution and test driver), run on
//! one worker, with a watchdog for the one way they can hang without using fuel: both waiting
//! on each other in pipe reads or writes with nothing in flight between them (`pipes.rs`:
//! every byte either wrote has been read by the other). In the test protocol the driver only
//! waits for the solution (for its reply, or for room to write a request), so such a wait is
//! the solution doing what the protocol does not allow (reading its stdin itself, flooding its
//! stdout): the solution's run is ended and the driver, reading end-of-file, reports its tests
//! failed. Without the watchdog such a program held a worker until the wall-clock safety net
//! and was answered `error`.

use std::future::Future;
use std::time::{Duration, Instant};

use super::guest::{Input, Io, Output};
use super::pipes::PipeWatch;
use super::{Exit, Language, RunLimits, RunOutput, Sandbox, SandboxError};

/// How often the watchdog looks, and for how many looks in a row both must be waiting.
const CHECK: Duration = Duration::from_millis(10);
const CONFIRMATIONS: u32 = 3;

/// What the first instance's run ends with when the watchdog ends it.
pub const DEADLOCK: &str = "the solution waited on its stdin or stdout, which carry the tests' \
     calls, while the tests waited for it (a deadlock): it was stopped";

impl Sandbox {
    /// Runs two fresh instances of `language`'s interpreter at once on one worker, each one's
    /// stdout piped into the other's stdin, and returns (first, second). The code judge runs an
    /// item's solution in the first and its test driver in the second: nothing of the driver
    /// (its tests, their randomness, the comparison, the report) is in the solution's memory.
    /// When one instance ends, the other reads end-of-file. When both wait on each other, the
    /// first is ended (see the module's comment).
    pub async fn run_pair(
        &self,
        language: Language,
        (first, first_limits): (&[String], RunLimits),
        (second, second_limits): (&[String], RunLimits),
    ) -> Result<(RunOutput, RunOutput), SandboxError> {
        self.check_memory(&first_limits)?;
        self.check_memory(&second_limits)?;
        let (first_guest, first_argv) = self.choose(language, first, &first_limits)?;
        let (second_guest, second_argv) = self.choose(language, second, &second_limits)?;
        self.submit(move || {
            Box::pin(async move {
                let (first_out, second_in) = tokio::io::duplex(64 * 1024);
                let (second_out, first_in) = tokio::io::duplex(64 * 1024);
                let (first_watch, second_watch) = (PipeWatch::default(), PipeWatch::default());
                let first_io = Io {
                    stdin: Input::Pipe(first_in),
                    stdout: Output::Pipe(first_out),
                    dir: None,
                    watch: Some(first_watch.clone()),
                };
                let second_io = Io {
                    stdin: Input::Pipe(second_in),
                    stdout: Output::Pipe(second_out),
                    dir: None,
                    watch: Some(second_watch.clone()),
                };
                let started = Instant::now();
                let first = first_guest.run(&first_argv, first_io, &first_limits);
                let second = second_guest.run(&second_argv, second_io, &second_limits);
                let (first, second) = watched(first, second, [first_watch, second_watch]).await;
                let first = first.unwrap_or_else(|| Ok(deadlocked(started)));
                Ok((first?, second?))
            })
        })
        .await
    }
}

/// Polls both runs until both end; `None` for the first when the watchdog ended it.
async fn watched<A, B>(
    first: impl Future<Output = A>,
    second: impl Future<Output = B>,
    watches: [PipeWatch; 2],
) -> (Option<A>, B) {
    let mut first = Some(Box::pin(first));
    let mut second = std::pin::pin!(second);
    let (mut first_out, mut stopped) = (None, false);
    let mut ticker = tokio::time::interval(CHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut both_waiting = 0u32;
    loop {
        tokio::select! {
            out = async { first.as_mut().expect("polled only while running").await },
                if first.is_some() => {
                first = None;
                first_out = Some(out);
            }
            out = &mut second => {
                // The second ran to its end; the first, if still running, gets end-of-file
                // on its stdin and ends by itself (or on its budget).
                let first_out = match first.take() {
                    Some(running) if !stopped => Some(running.await),
                    _ => first_out,
                };
                return (first_out, out);
            }
            _ = ticker.tick(), if first.is_some() => {
                both_waiting = if stuck(&watches) { both_waiting + 1 } else { 0 };
                if both_waiting >= CONFIRMATIONS {
                    // Dropping the first run closes its pipes: the second reads end-of-file.
                    first = None;
                    stopped = true;
                }
            }
        }
    }
}

/// Both runs wait on their pipes and nothing is in flight between them: neither can wake.
fn stuck([first, second]: &[PipeWatch; 2]) -> bool {
    first.is_waiting()
        && second.is_waiting()
        && first.in_flight_to(second) == 0
        && second.in_flight_to(first) == 0
}

fn deadlocked(started: Instant) -> RunOutput {
    RunOutput {
        exit: Exit::Trap(DEADLOCK.to_owned()),
        stdout: Vec::new(),
        stderr: Vec::new(),
        memory_denied: false,
        elapsed: started.elapsed(),
        fuel_used: 0,
    }
}
