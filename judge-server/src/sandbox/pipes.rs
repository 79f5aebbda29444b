//! A run's stdin and stdout when they are pipes to another run (`pair.rs`), watched: a flag is
//! set while the guest waits on the pipe (for data to read, or for room to write), and only
//! then, so a pair's watchdog can tell two runs waiting on each other from runs that are busy
//! (computing, or reading their own files).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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

pub struct WatchedStdin {
    inner: AsyncStdinStream,
    waiting: Arc<AtomicBool>,
}

impl WatchedStdin {
    pub fn new(reader: impl AsyncRead + Send + Sync + 'static, waiting: Arc<AtomicBool>) -> Self {
        WatchedStdin {
            inner: AsyncStdinStream::new(reader),
            waiting,
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
            waiting: Arc::clone(&self.waiting),
        })
    }
}

struct WatchedInput {
    inner: Box<dyn InputStream>,
    waiting: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl InputStream for WatchedInput {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        self.inner.read(size)
    }

    fn skip(&mut self, size: usize) -> StreamResult<usize> {
        self.inner.skip(size)
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await
    }
}

#[async_trait::async_trait]
impl Pollable for WatchedInput {
    async fn ready(&mut self) {
        let _waiting = Waiting::start(&self.waiting);
        self.inner.ready().await
    }
}

pub struct WatchedStdout {
    inner: AsyncStdoutStream,
    waiting: Arc<AtomicBool>,
}

impl WatchedStdout {
    pub fn new(
        budget: usize,
        writer: impl AsyncWrite + Send + Sync + 'static,
        waiting: Arc<AtomicBool>,
    ) -> Self {
        WatchedStdout {
            inner: AsyncStdoutStream::new(budget, writer),
            waiting,
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
            waiting: Arc::clone(&self.waiting),
        })
    }
}

struct WatchedOutput {
    inner: Box<dyn OutputStream>,
    waiting: Arc<AtomicBool>,
}

#[async_trait::async_trait]
impl OutputStream for WatchedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.inner.write(bytes)
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
        let _waiting = Waiting::start(&self.waiting);
        self.inner.ready().await
    }
}
