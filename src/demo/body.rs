//! The streaming body of embedded media: `&'static [u8]` sliced into `Bytes::from_static`
//! frames, with the throttle and reset faults applied per frame.
//!
//! Why: plexgate must stream segment bodies frame by frame, so the fake must too; a throttle or a
//! mid-body reset is only observable if the body really arrives in frames over time. It never
//! copies media bytes and never ends a reset body cleanly: after the configured number of bytes
//! it yields an error, which makes hyper abort the connection (HTTP/1) or reset the stream (HTTP/2).

use std::future::Future as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::response::BoxError;

/// Frame size without a throttle.
const FRAME: usize = 64 * 1024;
/// Pause between the last byte allowed by a reset fault and the abort.
const RESET_GRACE: Duration = Duration::from_millis(30);

/// A body over `data[start..end]`.
pub(crate) struct MediaBody {
    data: &'static [u8],
    pos: usize,
    end: usize,
    frame: usize,
    throttle_bps: Option<u64>,
    /// Body bytes that may still be sent before the connection is aborted.
    reset_budget: Option<u64>,
    /// A frame waiting for its throttle delay: (length, timer).
    waiting: Option<(usize, Pin<Box<Sleep>>)>,
    /// Grace before the reset error, so the bytes already yielded reach the socket first.
    reset_timer: Option<Pin<Box<Sleep>>>,
    failed: bool,
}

impl std::fmt::Debug for MediaBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaBody")
            .field("pos", &self.pos)
            .field("end", &self.end)
            .field("throttle_bps", &self.throttle_bps)
            .field("reset_budget", &self.reset_budget)
            .finish()
    }
}

impl MediaBody {
    /// Streams `data[start..end]`, throttled to `throttle_bps` and aborted after `reset_after`
    /// bytes when those are set.
    pub(crate) fn new(
        data: &'static [u8],
        start: usize,
        end: usize,
        throttle_bps: Option<u64>,
        reset_after: Option<u64>,
    ) -> MediaBody {
        let end = end.min(data.len());
        let frame = match throttle_bps {
            // About ten frames a second, so the rate is smooth and a slow body is visible early.
            Some(bps) => usize::try_from(bps / 10).unwrap_or(FRAME).clamp(256, FRAME),
            None => FRAME,
        };
        MediaBody {
            data,
            pos: start.min(end),
            end,
            frame,
            throttle_bps,
            reset_budget: reset_after,
            waiting: None,
            reset_timer: None,
            failed: false,
        }
    }

    fn next_len(&self) -> usize {
        let mut n = self.frame.min(self.end - self.pos);
        if let Some(budget) = self.reset_budget {
            n = n.min(usize::try_from(budget).unwrap_or(usize::MAX));
        }
        n
    }
}

impl http_body::Body for MediaBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.failed || this.pos >= this.end {
            return Poll::Ready(None);
        }
        if this.reset_budget == Some(0) {
            // Without the pause hyper would see the error before flushing the headers and the
            // bytes already yielded; the client must get those, then a broken connection.
            let timer = this
                .reset_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_GRACE)));
            ready!(timer.as_mut().poll(cx));
            this.failed = true;
            return Poll::Ready(Some(Err(
                "demo plex fault: connection reset mid-body".into()
            )));
        }
        let len = match this.waiting.as_mut() {
            Some((len, sleep)) => {
                ready!(sleep.as_mut().poll(cx));
                let len = *len;
                this.waiting = None;
                len
            }
            None => {
                let len = this.next_len();
                if let Some(bps) = this.throttle_bps {
                    let secs = len as f64 / bps as f64;
                    let mut sleep = Box::pin(tokio::time::sleep(Duration::from_secs_f64(secs)));
                    if sleep.as_mut().poll(cx).is_pending() {
                        this.waiting = Some((len, sleep));
                        return Poll::Pending;
                    }
                }
                len
            }
        };
        let chunk = Bytes::from_static(&this.data[this.pos..this.pos + len]);
        this.pos += len;
        if let Some(budget) = this.reset_budget.as_mut() {
            *budget -= len as u64;
        }
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact((self.end - self.pos) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    static DATA: [u8; 200_000] = [7; 200_000];

    #[tokio::test]
    async fn streams_whole_range_in_frames() {
        let body = MediaBody::new(&DATA, 10, 150_010, None, None);
        let bytes = body.collect().await.expect("body").to_bytes();
        assert_eq!(bytes.len(), 150_000);
    }

    #[tokio::test]
    async fn reset_errors_after_budget() {
        let mut body = MediaBody::new(&DATA, 0, DATA.len(), None, Some(1000));
        let first = body.frame().await.expect("frame").expect("ok");
        assert_eq!(first.into_data().expect("data").len(), 1000);
        assert!(body.frame().await.expect("frame").is_err());
    }

    #[tokio::test]
    async fn short_body_under_reset_budget_completes() {
        let body = MediaBody::new(&DATA, 0, 500, None, Some(1000));
        assert_eq!(body.collect().await.expect("body").to_bytes().len(), 500);
    }
}
