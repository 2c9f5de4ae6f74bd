//! The connection as hyper sees it: the socket (or the TLS stream over it),
//! with hyper's own error answers rewritten into our one error shape.
//!
//! hyper answers a request it cannot parse by itself, before any handler
//! runs: `400` for a malformed request, `431` for headers over the limit,
//! `414` for a request line over 64 KiB (`Server::on_error` in hyper's
//! `proto/h1/role.rs`). Those answers have an empty body, and hyper 1.12
//! has no hook to give them one. Every other error the server sends has an
//! `ErrorBody` in JSON, so [`CannedErrors`] recognises hyper's canned head
//! on its way out and writes an equivalent answer with a JSON body instead.
//!
//! The head is recognised only as the whole of a write's start: a status
//! line of `400`, `414` or `431`, `content-length: 0`, no `content-type`
//! and no `transfer-encoding`, and the blank line that ends a head. None of
//! our responses looks like that: every handler's error carries a JSON body
//! and `content-type: application/json`, and the tail of a response body
//! cut by a short write cannot hold the CR LF pairs, because our bodies are
//! compact JSON (no raw line breaks) or zstd frames of it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use doorstep_protocol::ErrorBody;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How far into a write the end of a canned head may be.
const MAX_CANNED_HEAD: usize = 1024;

/// A status hyper answers with by itself, and what our answer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CannedError {
    pub(crate) status: u16,
    /// Length of hyper's head, blank line included.
    pub(crate) head_len: usize,
}

/// hyper's answer to an unparsable request, when `written` starts with one.
pub(crate) fn recognise(written: &[u8]) -> Option<CannedError> {
    let rest = written
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| written.strip_prefix(b"HTTP/1.0 "))?;
    let status = match rest.get(..4)? {
        b"400 " => 400,
        b"414 " => 414,
        b"431 " => 431,
        _ => return None,
    };
    let window = &written[..written.len().min(MAX_CANNED_HEAD)];
    let status_line_end = find(window, b"\r\n")?;
    let head_len = find(window, b"\r\n\r\n")? + 4;
    // Between the status line and the blank line; none at all when the
    // status line is followed by the blank line.
    let headers = window.get(status_line_end + 2..head_len - 2)?;
    let mut empty = false;
    for line in headers.split_inclusive(|byte| *byte == b'\n') {
        let (name, value) = split_header(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            empty = value == b"0";
        } else if name.eq_ignore_ascii_case(b"content-type")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
        {
            return None;
        }
    }
    empty.then_some(CannedError { status, head_len })
}

/// Our answer for hyper's `head`: the same status and other headers (the
/// date), a JSON `ErrorBody`, and `connection: close` (hyper closes the
/// connection after it).
pub(crate) fn rewrite(canned: CannedError, head: &[u8], max_header_bytes: usize) -> Vec<u8> {
    let (reason, code, message) = match canned.status {
        414 => (
            "URI Too Long",
            "too_large",
            "request line too long".to_string(),
        ),
        431 => (
            "Request Header Fields Too Large",
            "too_large",
            format!("request headers too large: at most {max_header_bytes} bytes"),
        ),
        _ => (
            "Bad Request",
            "bad_request",
            "malformed HTTP request".to_string(),
        ),
    };
    let body = serde_json::to_vec(&ErrorBody {
        error: code.to_string(),
        message,
    })
    .unwrap_or_else(|_| br#"{"error":"bad_request","message":"malformed HTTP request"}"#.to_vec());
    let mut answer = format!("HTTP/1.1 {} {reason}\r\n", canned.status).into_bytes();
    let headers_start = find(head, b"\r\n").map_or(head.len(), |end| end + 2);
    let headers_end = canned.head_len.saturating_sub(2).max(headers_start);
    for line in head[headers_start..headers_end].split_inclusive(|byte| *byte == b'\n') {
        let keep = split_header(line).is_some_and(|(name, _)| {
            !name.eq_ignore_ascii_case(b"content-length")
                && !name.eq_ignore_ascii_case(b"connection")
        });
        if keep {
            answer.extend_from_slice(line);
        }
    }
    answer.extend_from_slice(
        format!(
            "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    answer.extend_from_slice(&body);
    answer
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A header line's name and value, trimmed.
fn split_header(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = line.iter().position(|byte| *byte == b':')?;
    Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
}

/// An IO stream whose writes go through [`recognise`]: a canned error head
/// is taken whole from hyper and our answer written in its place, before
/// anything else (the next write, a flush, the shutdown).
#[derive(Debug)]
pub(crate) struct CannedErrors<S> {
    inner: S,
    max_header_bytes: usize,
    /// Our answer, and how much of it is written.
    answer: Vec<u8>,
    answered: usize,
}

impl<S> CannedErrors<S> {
    pub(crate) fn new(inner: S, max_header_bytes: usize) -> CannedErrors<S> {
        CannedErrors {
            inner,
            max_header_bytes,
            answer: Vec::new(),
            answered: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> CannedErrors<S> {
    /// Writes what is left of our answer.
    fn poll_answer(&mut self, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.answered < self.answer.len() {
            let written = ready!(
                Pin::new(&mut self.inner).poll_write(context, &self.answer[self.answered..])
            )?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.answered += written;
        }
        self.answer = Vec::new();
        self.answered = 0;
        Poll::Ready(Ok(()))
    }

    /// When `written` starts with a canned head: takes it, queues our answer
    /// and starts writing it; returns the head's length.
    fn take_canned(
        &mut self,
        context: &mut Context<'_>,
        written: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        let canned = recognise(written)?;
        tracing::debug!(
            status = canned.status,
            "answering a request hyper could not parse"
        );
        self.answer = rewrite(canned, &written[..canned.head_len], self.max_header_bytes);
        self.answered = 0;
        // Taken whole; a flush or the next write finishes our answer.
        Some(match self.poll_answer(context) {
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            _ => Poll::Ready(Ok(canned.head_len)),
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CannedErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(context, buffer)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CannedErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_answer(context))?;
        if let Some(taken) = this.take_canned(context, buffer) {
            return taken;
        }
        Pin::new(&mut this.inner).poll_write(context, buffer)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_answer(context))?;
        // hyper encodes a head into one buffer: it is the first non-empty
        // slice or not there at all.
        if let Some(first) = buffers.iter().find(|buffer| !buffer.is_empty())
            && let Some(taken) = this.take_canned(context, first)
        {
            return taken;
        }
        Pin::new(&mut this.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(context))?;
        Pin::new(&mut this.inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_answer(context))?;
        Pin::new(&mut this.inner).poll_shutdown(context)
    }
}

#[cfg(test)]
#[path = "io_tests.rs"]
mod tests;
