//! The player's connection as hyper sees it: plain TCP, except that placeholder slices are
//! spliced from the connection's [`Slot`] instead of written.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{Slot, Source, is_placeholder};

/// A TCP connection served by hyper that can relay [`super::SplicedBody`] placeholders.
#[derive(Debug)]
pub struct RelayIo {
    io: TokioIo<TcpStream>,
    slot: Slot,
}

impl RelayIo {
    /// Wraps an accepted connection; `slot` is what its requests carry as an extension.
    pub fn new(tcp: TcpStream, slot: Slot) -> RelayIo {
        RelayIo {
            io: TokioIo::new(tcp),
            slot,
        }
    }

    fn poll_relay(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let mut slot = self.slot.lock();
        let Some(source) = slot.source.as_mut() else {
            // Writing the placeholder's bytes would send zeros as media: refuse instead.
            return Poll::Ready(Err(io::Error::other("a spliced body lost its source")));
        };
        let polled = source.poll_relay(cx, self.io.inner(), max);
        if matches!(polled, Poll::Ready(Err(_))) {
            slot.source = None;
        } else if source.is_done() {
            slot.spare = slot.source.take().and_then(Source::into_spare);
        }
        polled
    }
}

impl Read for RelayIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for RelayIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if is_placeholder(buf) {
            return self.poll_relay(cx, buf.len());
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        let bufs = &bufs[first..];
        if is_placeholder(&bufs[0]) {
            return self.poll_relay(cx, bufs[0].len());
        }
        // Real bytes up to the next placeholder go out in one write; the caller comes back
        // for the rest.
        let end = bufs
            .iter()
            .position(|b| is_placeholder(b))
            .unwrap_or(bufs.len());
        Pin::new(&mut self.io).poll_write_vectored(cx, &bufs[..end])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
