//! The player's connection as hyper sees it: plain TCP, except that placeholder slices are
//! spliced from the connection's [`Slot`] instead of written, and that its first read takes
//! the whole request head at once.
//!
//! Why the first read: the server reads 24 bytes first to tell an HTTP/2 preface from an
//! HTTP/1 request, then reads again for the rest of the head. On a fresh connection (a
//! player's first segment, every fetch of a client that closes) that is a second system call
//! before the request can even be parsed. Reading up to [`FIRST_READ`] bytes the first time
//! and keeping what the small read did not take answers the second read from memory.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncRead;
use tokio::net::TcpStream;

use super::{Slot, Source, is_placeholder};

/// A TCP connection served by hyper that can relay [`super::SplicedBody`] placeholders.
#[derive(Debug)]
pub struct RelayIo {
    io: TokioIo<TcpStream>,
    slot: Slot,
    /// Nothing has been read from the socket yet.
    fresh: bool,
    /// What the first read got beyond what its reader asked for, handed out before the socket
    /// is read again.
    early: Bytes,
}

/// The most the first read takes: a request head with a browser's cookies fits, and it is
/// hyper's own first buffer size.
const FIRST_READ: usize = 8 * 1024;

impl RelayIo {
    /// Wraps an accepted connection; `slot` is what its requests carry as an extension.
    pub fn new(tcp: TcpStream, slot: Slot) -> RelayIo {
        RelayIo {
            io: TokioIo::new(tcp),
            slot,
            fresh: true,
            early: Bytes::new(),
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
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early[..n]);
            this.early.advance(n);
            return Poll::Ready(Ok(()));
        }
        if !this.fresh || buf.remaining() >= FIRST_READ {
            this.fresh = false;
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        // On the stack: a connection that never sends anything costs no buffer.
        let mut space = [MaybeUninit::<u8>::uninit(); FIRST_READ];
        let mut first = tokio::io::ReadBuf::uninit(&mut space);
        ready!(Pin::new(this.io.inner_mut()).poll_read(cx, &mut first))?;
        this.fresh = false;
        let got = first.filled();
        let n = got.len().min(buf.remaining());
        buf.put_slice(&got[..n]);
        if got.len() > n {
            this.early = Bytes::copy_from_slice(&got[n..]);
        }
        Poll::Ready(Ok(()))
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

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    /// Waits until `tcp`'s receive queue holds `n` bytes.
    async fn queued(tcp: &TcpStream, n: usize) -> usize {
        let mut probe = vec![0u8; 64 * 1024];
        loop {
            tcp.readable().await.unwrap();
            let got = tcp.peek(&mut probe).await.unwrap();
            if got >= n {
                return got;
            }
            tokio::task::yield_now().await;
        }
    }

    async fn read(io: &mut RelayIo, max: usize) -> Vec<u8> {
        let mut space = vec![MaybeUninit::uninit(); max];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut space);
        poll_fn(|cx| Pin::new(&mut *io).poll_read(cx, buf.unfilled()))
            .await
            .unwrap();
        buf.filled().to_vec()
    }

    #[tokio::test]
    async fn the_first_small_read_takes_the_whole_head_and_hands_it_out_in_order() {
        let (server, mut client) = pair().await;
        let head: Vec<u8> = b"GET /library/parts/1/2/file.mkv HTTP/1.1\r\nhost: x\r\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'a', 300))
            .chain(b"\r\n\r\n".iter().copied())
            .collect();
        client.write_all(&head).await.unwrap();
        queued(&server, head.len()).await;
        let mut io = RelayIo::new(server, Slot::default());

        // What the version check asks for, then what the HTTP/1 parser asks for.
        assert_eq!(read(&mut io, 24).await, head[..24]);
        client.write_all(b"next").await.unwrap();
        // The socket holds only what came after the head: the first read took the head.
        assert_eq!(queued(io.io.inner(), 4).await, 4);
        assert_eq!(read(&mut io, 16 * 1024).await, head[24..]);
        assert_eq!(read(&mut io, 16 * 1024).await, b"next");
    }

    #[tokio::test]
    async fn a_kept_rest_larger_than_the_reader_is_handed_out_over_several_reads() {
        let (server, mut client) = pair().await;
        let sent: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        client.write_all(&sent).await.unwrap();
        queued(&server, sent.len()).await;
        let mut io = RelayIo::new(server, Slot::default());
        let mut got = Vec::new();
        while got.len() < sent.len() {
            got.extend(read(&mut io, 24).await);
        }
        assert_eq!(got, sent);
    }
}
