//! A run's CPU-time cap (`fuel::CPU_FACTOR`): a guest whose instructions cost far more than
//! the budget assumes ends as out of time instead of holding a core until the wall-clock net.

use std::time::Duration;

/// The run used more CPU time than its cap (`fuel::CPU_FACTOR`).
pub struct CpuExceeded;

/// A guest's call, ended when the CPU time spent polling it passes `cap`. The guest yields
/// every `fuel::YIELD_FUEL` and returns from every host call into this poll, so the time is
/// looked at every ~2 ms of budget; only time on this thread counts (a run waiting on a pipe,
/// or for a core on a busy host, uses none).
pub struct CpuCapped<F> {
    call: std::pin::Pin<Box<F>>,
    used: Duration,
    cap: Duration,
}

impl<F> CpuCapped<F> {
    pub fn new(call: F, cap: Duration) -> CpuCapped<F> {
        CpuCapped {
            call: Box::pin(call),
            used: Duration::ZERO,
            cap,
        }
    }
}

impl<F: std::future::Future> std::future::Future for CpuCapped<F> {
    type Output = Result<F::Output, CpuExceeded>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let before = thread_cpu_time();
        let polled = self.call.as_mut().poll(cx);
        let spent = thread_cpu_time().saturating_sub(before);
        self.used += spent;
        match polled {
            std::task::Poll::Ready(output) => std::task::Poll::Ready(Ok(output)),
            std::task::Poll::Pending if self.used > self.cap => {
                std::task::Poll::Ready(Err(CpuExceeded))
            }
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// CPU time this thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `now` is.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}
