//! A client that stops reading its answers: hyper has no write timeout,
//! and once an answer is stuck in its write queue it stops reading the
//! connection too, so no other timeout runs either. [`WriteStall`] fails a
//! write (or flush) that has made no progress for a while, which ends the
//! connection and frees its place under the caps.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a write may wait for the client to read before the connection
/// is given up: generous for a phone on a weak link (a page of a few MiB
/// moves on, slowly), short for one that never reads.
pub(crate) const WRITE_STALL: Duration = Duration::from_secs(60);

/// An IO stream whose writes fail after `limit` without progress.
#[derive(Debug)]
pub(crate) struct WriteStall<S> {
    inner: S,
    limit: Duration,
    /// Set while a write waits; cleared by any progress.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteStall<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> WriteStall<S> {
        WriteStall {
            inner,
            limit,
            deadline: None,
        }
    }

    /// After the inner stream answered `poll`: progress clears the
    /// deadline; waiting starts it, and waiting past it is an error.
    fn watch<T>(
        &mut self,
        context: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.deadline = None;
            return poll;
        }
        let limit = self.limit;
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + limit)));
        match deadline.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStall<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(context, buffer)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStall<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(context, buffer);
        this.watch(context, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(context, buffers);
        this.watch(context, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(context);
        this.watch(context, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_write_the_client_never_reads_fails_after_the_limit() {
        // A pipe whose other end is never read: its buffer fills.
        let (near, _far) = tokio::io::duplex(64);
        let mut stream = WriteStall::new(near, Duration::from_secs(60));
        let error = stream.write_all(&[0u8; 4096]).await.expect_err("stalls");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_not_cut_off() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut stream = WriteStall::new(near, Duration::from_secs(60));
        let reader = tokio::spawn(async move {
            let mut buffer = [0u8; 64];
            let mut total = 0;
            while total < 4096 {
                tokio::time::sleep(Duration::from_secs(30)).await;
                total += tokio::io::AsyncReadExt::read(&mut far, &mut buffer)
                    .await
                    .expect("reads");
            }
            total
        });
        stream
            .write_all(&[0u8; 4096])
            .await
            .expect("progress keeps it going");
        drop(stream);
        assert_eq!(reader.await.expect("reader"), 4096);
    }
}
