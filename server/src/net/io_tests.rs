//! The canned-error rewrite: which heads are hyper's, what we write instead,
//! and the wrapper through short and vectored writes.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::*;

const DATE: &str = "date: Tue, 01 Dec 2026 10:00:00 GMT\r\n";

fn canned(status: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n{DATE}\r\n")
}

#[test]
fn only_hypers_empty_error_heads_are_recognised() {
    let ours = "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 58\r\n\r\n{\"error\":\"bad_request\",\"message\":\"this route does not take that method\"}";
    let cases: Vec<(&str, String, Option<u16>)> = vec![
        ("hyper's 400", canned("400 Bad Request"), Some(400)),
        (
            "hyper's 431",
            canned("431 Request Header Fields Too Large"),
            Some(431),
        ),
        ("hyper's 414", canned("414 URI Too Long"), Some(414)),
        (
            "HTTP/1.0",
            format!("HTTP/1.0 400 Bad Request\r\ncontent-length: 0\r\n{DATE}\r\n"),
            Some(400),
        ),
        (
            "header names in any case",
            format!("HTTP/1.1 400 Bad Request\r\nContent-Length:0\r\n{DATE}\r\n"),
            Some(400),
        ),
        ("one of our JSON errors", ours.to_string(), None),
        (
            "an empty 400 that says it is JSON",
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"
                .to_string(),
            None,
        ),
        (
            "a 400 with a body",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}".to_string(),
            None,
        ),
        (
            "a chunked 400",
            "HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n"
                .to_string(),
            None,
        ),
        (
            "no content-length",
            format!("HTTP/1.1 400 Bad Request\r\n{DATE}\r\n"),
            None,
        ),
        (
            "no headers at all",
            "HTTP/1.1 400 Bad Request\r\n\r\n".to_string(),
            None,
        ),
        ("another status", canned("404 Not Found"), None),
        ("a 200", canned("200 OK"), None),
        ("a status with more digits", canned("4000 Odd"), None),
        (
            "a head cut short",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n".to_string(),
            None,
        ),
        (
            "the middle of a body",
            format!("xx{}", canned("400 Bad Request")),
            None,
        ),
        (
            "a head too long to be hyper's",
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-padding: {}\r\n\r\n",
                "a".repeat(MAX_CANNED_HEAD)
            ),
            None,
        ),
        (
            "a line that is no header",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nnonsense\r\n\r\n".to_string(),
            None,
        ),
    ];
    for (name, written, expected) in cases {
        let found = recognise(written.as_bytes());
        assert_eq!(found.map(|canned| canned.status), expected, "{name}");
        if let Some(found) = found {
            assert_eq!(found.head_len, written.len(), "{name}: the whole head");
        }
    }
}

#[test]
fn the_head_ends_at_the_blank_line_whatever_follows() {
    let head = canned("400 Bad Request");
    let written = format!("{head}HTTP/1.1 200 OK\r\n");
    let found = recognise(written.as_bytes()).expect("recognised");
    assert_eq!(found.head_len, head.len());
}

/// The status line, the headers by name, and the body of an answer.
fn parse(answer: &[u8]) -> (String, Vec<(String, String)>, ErrorBody) {
    let text = std::str::from_utf8(answer).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let mut lines = head.split("\r\n");
    let status = lines.next().expect("a status line").to_string();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("a header");
            (name.to_ascii_lowercase(), value.trim().to_string())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .expect("a content-length")
        .1
        .parse()
        .expect("a length");
    assert_eq!(length, body.len(), "content-length is the body's length");
    (
        status,
        headers,
        serde_json::from_str(body).expect("an ErrorBody"),
    )
}

#[test]
fn each_canned_error_becomes_the_one_json_shape() {
    let cases = [
        (
            "400 Bad Request",
            "HTTP/1.1 400 Bad Request",
            "bad_request",
            "malformed HTTP request",
        ),
        (
            "431 Request Header Fields Too Large",
            "HTTP/1.1 431 Request Header Fields Too Large",
            "too_large",
            "request headers too large: at most 16384 bytes",
        ),
        (
            "414 URI Too Long",
            "HTTP/1.1 414 URI Too Long",
            "too_large",
            "request line too long",
        ),
    ];
    for (status, line, error, message) in cases {
        let head = canned(status);
        let found = recognise(head.as_bytes()).expect("recognised");
        let answer = rewrite(found, head.as_bytes(), 16 * 1024);
        let (status_line, headers, body) = parse(&answer);
        assert_eq!(status_line, line);
        assert_eq!(
            body,
            ErrorBody {
                error: error.to_string(),
                message: message.to_string()
            },
            "{status}"
        );
        let header = |name: &str| -> Vec<&str> {
            headers
                .iter()
                .filter(|(found, _)| found == name)
                .map(|(_, value)| value.as_str())
                .collect()
        };
        assert_eq!(header("content-type"), ["application/json"], "{status}");
        assert_eq!(header("connection"), ["close"], "{status}");
        assert_eq!(header("content-length").len(), 1, "{status}");
        assert_eq!(
            header("date"),
            ["Tue, 01 Dec 2026 10:00:00 GMT"],
            "{status}: hyper's date kept"
        );
    }
}

/// A socket that takes at most `chunk` bytes a write.
#[derive(Debug, Default)]
struct Sink {
    written: Vec<u8>,
    chunk: usize,
    vectored: bool,
}

impl AsyncWrite for Sink {
    fn poll_write(
        self: Pin<&mut Self>,
        _context: &mut Context<'_>,
        buffer: &[u8],
    ) -> Poll<io::Result<usize>> {
        let taken = buffer.len().min(self.chunk);
        self.get_mut().written.extend_from_slice(&buffer[..taken]);
        Poll::Ready(Ok(taken))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _context: &mut Context<'_>,
        buffers: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut budget = this.chunk;
        let mut taken = 0;
        for buffer in buffers {
            let part = buffer.len().min(budget);
            this.written.extend_from_slice(&buffer[..part]);
            taken += part;
            budget -= part;
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Writes every byte of `parts` the way hyper does (as one buffer or as
/// slices), then flushes; returns what reached the socket.
fn write_all(chunk: usize, vectored: bool, parts: &[&[u8]]) -> Vec<u8> {
    let mut stream = CannedErrors::new(
        Sink {
            chunk,
            vectored,
            ..Sink::default()
        },
        16 * 1024,
    );
    assert_eq!(stream.is_write_vectored(), vectored);
    let mut context = Context::from_waker(Waker::noop());
    let mut offsets = vec![0; parts.len()];
    loop {
        let remaining: Vec<&[u8]> = parts
            .iter()
            .zip(&offsets)
            .map(|(part, offset)| &part[*offset..])
            .collect();
        if remaining.iter().all(|part| part.is_empty()) {
            break;
        }
        let mut written = if vectored {
            let slices: Vec<IoSlice<'_>> =
                remaining.iter().map(|part| IoSlice::new(part)).collect();
            match Pin::new(&mut stream).poll_write_vectored(&mut context, &slices) {
                Poll::Ready(Ok(written)) => written,
                other => panic!("a write: {other:?}"),
            }
        } else {
            let first = remaining
                .iter()
                .position(|part| !part.is_empty())
                .expect("something left");
            match Pin::new(&mut stream).poll_write(&mut context, remaining[first]) {
                Poll::Ready(Ok(written)) => written,
                other => panic!("a write: {other:?}"),
            }
        };
        assert!(written > 0, "progress");
        for (part, offset) in parts.iter().zip(offsets.iter_mut()) {
            let step = written.min(part.len() - *offset);
            *offset += step;
            written -= step;
        }
    }
    match Pin::new(&mut stream).poll_flush(&mut context) {
        Poll::Ready(Ok(())) => {}
        other => panic!("a flush: {other:?}"),
    }
    stream.inner.written
}

#[test]
fn short_and_vectored_writes_carry_the_answer_whole_and_the_rest_untouched() {
    let head = canned("431 Request Header Fields Too Large");
    let found = recognise(head.as_bytes()).expect("recognised");
    let answer = rewrite(found, head.as_bytes(), 16 * 1024);
    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".as_slice();
    let body = br#"{"status":"ok"}"#.as_slice();
    for chunk in [1, 7, 64, 1 << 20] {
        for vectored in [false, true] {
            let case = format!("chunk {chunk}, vectored {vectored}");
            assert_eq!(
                write_all(chunk, vectored, &[head.as_bytes()]),
                answer,
                "{case}: the canned head"
            );
            assert_eq!(
                write_all(chunk, vectored, &[b"", head.as_bytes()]),
                answer,
                "{case}: after an empty slice"
            );
            assert_eq!(
                write_all(chunk, vectored, &[ok, body]),
                [ok, body].concat(),
                "{case}: other answers pass untouched"
            );
            let mut expected = answer.clone();
            expected.extend_from_slice(ok);
            assert_eq!(
                write_all(chunk, vectored, &[head.as_bytes(), ok]),
                expected,
                "{case}: what follows the head goes after our answer"
            );
        }
    }
}
