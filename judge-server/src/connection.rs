//! Accepting HTTP connections: each is served on its own task with a deadline for a request's
//! headers (`limits.header_read_timeout_ms`: a slow-loris client is disconnected instead of
//! holding a socket and a task forever; it covers a connection that never sends a byte too, and
//! idle keep-alive connections), a deadline for every stalled write of a response
//! (`limits.response_write_timeout_ms`: a client that never reads its answers cannot pin their
//! memory), and on shutdown the listener closes while the connections in flight finish their
//! requests.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::client::Peer;
use crate::shutdown::Shutdown;
use tower::ServiceExt as _;

/// Serves `router` on `listener` until `stop` fires, then waits for the open connections to
/// finish their requests (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    deadlines: Deadlines,
    mut stop: Shutdown,
) {
    let Deadlines {
        header_read: header_read_timeout,
        response_write,
    } = deadlines;
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // Every request knows its peer (who it is for fairness, with auth off).
                let service = TowerToHyperService::new(router.clone().map_request(
                    move |mut request: hyper::Request<hyper::body::Incoming>| {
                        request.extensions_mut().insert(Peer(peer));
                        request
                    },
                ));
                let builder = builder.clone();
                let watcher = graceful.watcher();
                let mut stopping = stop.clone();
                tokio::spawn(async move {
                    // The first byte within the header deadline (the HTTP version detection
                    // below waits for bytes without one); a shutdown closes the connection.
                    let mut first = [0u8; 1];
                    tokio::select! {
                        peeked = tokio::time::timeout(header_read_timeout, stream.peek(&mut first)) => {
                            if !matches!(peeked, Ok(Ok(n)) if n > 0) {
                                return;
                            }
                        }
                        _ = stopping.wait() => return,
                    }
                    let io = TokioIo::new(WriteDeadline::new(stream, response_write));
                    let connection = builder.serve_connection_with_upgrades(io, service);
                    if let Err(error) = watcher.watch(connection.into_owned()).await {
                        tracing::debug!(error = %error, "connection ended with an error");
                    }
                });
            }
            _ = stop.wait() => break,
        }
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The per-connection deadlines.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub header_read: Duration,
    pub response_write: Duration,
}

/// A connection whose writes may stall (the client does not read) for at most `timeout` at a
/// time: then the write fails and the connection is closed.
struct WriteDeadline<T> {
    inner: T,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteDeadline<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        WriteDeadline {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Arms the stall timer on `Pending`, disarms it on progress; a stall past the timeout is
    /// an error.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read the response within limits.response_write_timeout_ms",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_nobody_reads_fails_at_the_deadline() {
        // A pipe with a 1 KiB buffer whose reader never reads.
        let (writer, _reader) = tokio::io::duplex(1024);
        let mut writer = WriteDeadline::new(writer, Duration::from_millis(50));
        let error = writer.write_all(&vec![0u8; 1 << 20]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn writes_that_progress_are_untouched() {
        let (writer, mut reader) = tokio::io::duplex(1024);
        let mut writer = WriteDeadline::new(writer, Duration::from_millis(50));
        let reading = tokio::spawn(async move {
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut sink)
                .await
                .map(|_| sink.len())
        });
        writer.write_all(&vec![7u8; 1 << 16]).await.unwrap();
        writer.shutdown().await.unwrap();
        drop(writer);
        assert_eq!(reading.await.unwrap().unwrap(), 1 << 16);
    }
}
