//! A request body that must keep arriving: no progress for the idle
//! timeout, or more than the total timeout in all, ends it with a
//! [`BodyTimeout`] error.
//!
//! hyper's header timeout stops a client that sends its head slowly, but
//! nothing bounds the body: a client could announce 32 MiB and send a byte
//! a minute, holding a connection and a handler forever. The extractor that
//! reads the body (`wire::WireJson`) turns this error into a
//! `408 timeout`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a request body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyTimeout {
    #[error("no part of the request body arrived for {} s", .0.as_secs())]
    Idle(Duration),
    #[error("the request body took longer than {} s", .0.as_secs())]
    Total(Duration),
}

impl BodyTimeout {
    /// The timeout among the causes of `error`, if one of them is.
    pub fn find(error: &(dyn std::error::Error + 'static)) -> Option<BodyTimeout> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(timeout) = error.downcast_ref::<BodyTimeout>() {
                return Some(*timeout);
            }
            cause = error.source();
        }
        None
    }
}

/// hyper's request body with the two deadlines. The clocks start when the
/// request's head has arrived; the idle one starts again at every piece of
/// the body.
#[derive(Debug)]
pub(crate) struct TimedBody {
    inner: Incoming,
    idle: Duration,
    total: Duration,
    idle_deadline: Pin<Box<Sleep>>,
    total_deadline: Pin<Box<Sleep>>,
    timed_out: bool,
}

impl TimedBody {
    pub(crate) fn new(inner: Incoming, idle: Duration, total: Duration) -> TimedBody {
        let now = Instant::now();
        TimedBody {
            inner,
            idle,
            total,
            idle_deadline: Box::pin(tokio::time::sleep_until(now + idle)),
            total_deadline: Box::pin(tokio::time::sleep_until(now + total)),
            timed_out: false,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.timed_out {
            return Poll::Ready(None);
        }
        // What has arrived is taken first: a server slow to read never
        // blames the client.
        match Pin::new(&mut this.inner).poll_frame(context) {
            Poll::Ready(Some(Ok(frame))) => {
                if frame.data_ref().is_some_and(|data| !data.is_empty()) {
                    let deadline = Instant::now() + this.idle;
                    this.idle_deadline.as_mut().reset(deadline);
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let timeout = if this.total_deadline.as_mut().poll(context).is_ready() {
            BodyTimeout::Total(this.total)
        } else if this.idle_deadline.as_mut().poll(context).is_ready() {
            BodyTimeout::Idle(this.idle)
        } else {
            return Poll::Pending;
        };
        this.timed_out = true;
        Poll::Ready(Some(Err(Box::new(timeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.timed_out || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
