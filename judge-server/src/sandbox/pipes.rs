//! A run's stdin and stdout when they are pipes to another run (`pair.rs`), watched: a flag is
//! set while the guest waits on the pipe (for data to read, or for room to write), and only
//! then, and the bytes the guest itself wrote and read are counted. Two runs both waiting, with
//! every byte either wrote already read by the other, wait on each other for good: nothing is
//! in flight anywhere (in the runtime's buffers or the pipe) that could wake either. That is a
//! fact about the pipes, not about timing, so a busy host cannot make it look true.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use wasmtime_wasi::cli::{
    AsyncStdinStream, AsyncStdoutStream, IsTerminal, StdinStream, StdoutStream,
};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamResult};

/// Sets the flag while alive (a wait dropped half-way clears it too).
struct Waiting<'a>(&'a AtomicBool);

impl<'a> Waiting<'a> {
    fn start(flag: &'a AtomicBool) -> Waiting<'a> {
        flag.store(true, Ordering::Relaxed);
        Waiting(flag)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// What a pair's watchdog sees of one run's pipes.
#[derive(Clone, Default)]
pub struct PipeWatch {
    /// The guest is waiting on its stdin or stdout pipe.
    pub waiting: Arc<AtomicBool>,
    /// Bytes the guest has read from its stdin, and written to its stdout.
    pub read: Arc<AtomicU64>,
    pub written: Arc<AtomicU64>,
}

impl PipeWatch {
    pub fn is_waiting(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Bytes this run wrote that `reader` has not read yet.
    pub fn in_flight_to(&self, reader: &PipeWatch) -> u64 {
        self.written
            .load(Ordering::Relaxed)
            .saturating_sub(reader.read.load(Ordering::Relaxed))
    }
}

pub struct WatchedStdin {
    inner: AsyncStdinStream,
    watch: PipeWatch,
}

impl WatchedStdin {
    pub fn new(reader: impl AsyncRead + Send + Sync + 'static, watch: PipeWatch) -> Self {
        WatchedStdin {
            inner: AsyncStdinStream::new(reader),
            watch,
        }
    }
}

impl IsTerminal for WatchedStdin {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdinStream for WatchedStdin {
    fn async_stream(&self) -> Box<dyn AsyncRead + Send + Sync> {
        self.inner.async_stream()
    }

    fn p2_stream(&self) -> Box<dyn InputStream> {
        Box::new(WatchedInput {
            inner: self.inner.p2_stream(),
            watch: self.watch.clone(),
        })
    }
}

struct WatchedInput {
    inner: Box<dyn InputStream>,
    watch: PipeWatch,
}

#[async_trait::async_trait]
impl InputStream for WatchedInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        let bytes = self.inner.read(size)?;
        self.watch
            .read
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    fn skip(&mut self, size: usize) -> StreamResult<usize> {
        let skipped = self.inner.skip(size)?;
        self.watch.read.fetch_add(skipped as u64, Ordering::Relaxed);
        Ok(skipped)
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[async_trait::async_trait]
impl Pollable for WatchedInput {
    async fn ready(&mut self) {
        let _waiting = Waiting::start(&self.watch.waiting);
        self.inner.ready().await
    }
}

pub struct WatchedStdout {
    inner: AsyncStdoutStream,
    watch: PipeWatch,
}

impl WatchedStdout {
    pub fn new(
        budget: usize,
        writer: impl AsyncWrite + Send + Sync + 'static,
        watch: PipeWatch,
    ) -> Self {
        WatchedStdout {
            inner: AsyncStdoutStream::new(budget, writer),
            watch,
        }
    }
}

impl IsTerminal for WatchedStdout {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for WatchedStdout {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        self.inner.async_stream()
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(WatchedOutput {
            inner: self.inner.p2_stream(),
            watch: self.watch.clone(),
        })
    }
}

struct WatchedOutput {
    inner: Box<dyn OutputStream>,
    watch: PipeWatch,
}

#[async_trait::async_trait]
impl OutputStream for WatchedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let length = bytes.len() as u64;
        self.inner.write(bytes)?;
        self.watch.written.fetch_add(length, Ordering::Relaxed);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[async_trait::async_trait]
impl Pollable for WatchedOutput {
    async fn ready(&mut self) {
        let _waiting = Waiting::start(&self.watch.waiting);
        self.inner.ready().await
    }
}
