//! The splice loop: Plex's socket → a pipe → the player's socket, all in the kernel.
//!
//! A pipe is the only way `splice(2)` moves bytes between two sockets: the first call takes
//! pages from Plex's receive queue into the pipe, the second hands them to the player's socket,
//! and plexgate never reads a byte. The pipe holds at most [`PIPE_SIZE`], so a paused player
//! pins that much kernel memory plus Plex's receive buffer, and nothing in plexgate's heap.
//!
//! Readiness comes from tokio (both sockets are registered with its reactor), so a blocked
//! side parks the connection's task like any other write; `try_io` clears readiness when the
//! kernel says `EAGAIN`.
//!
//! A player fetches part after part over one connection, so the connection keeps its pipe
//! between bodies ([`super::Slot`]): a pipe that was emptied by a whole body is reused, which
//! saves four system calls per part (`pipe2`, `fcntl`, two `close`). When the connection closes
//! the pipe waits for the next one ([`super::SparePipes`]). A body that ends any other way takes
//! its pipe with it, so leftover bytes can never reach the next answer.

use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::Observer;

/// What the pipe holds at most (Linux rounds to pages; 64 KiB is the kernel's default).
/// Four times the default means a quarter of the system calls per byte.
pub const PIPE_SIZE: usize = 256 << 10;
const DEFAULT_PIPE_SIZE: usize = 64 << 10;

/// A future that resolves when a relay must stop.
pub type Cancel = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The kernel buffer a relay moves pages through.
#[derive(Debug)]
pub struct Pipe {
    read_end: OwnedFd,
    write_end: OwnedFd,
    size: usize,
}

impl Pipe {
    /// A new pipe of the kernel's default size.
    pub fn new() -> io::Result<Pipe> {
        let (read_end, write_end) =
            rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        Ok(Pipe {
            read_end,
            write_end,
            size: DEFAULT_PIPE_SIZE,
        })
    }

    /// Grows the pipe to [`PIPE_SIZE`] for a body that needs it (a small range keeps the
    /// default and saves a system call). Best effort: a lowered `pipe-max-size` leaves the
    /// default, which works.
    fn fit(&mut self, len: u64) {
        if len > self.size as u64 && self.size < PIPE_SIZE {
            self.size = rustix::pipe::fcntl_setpipe_size(&self.write_end, PIPE_SIZE)
                .or_else(|_| rustix::pipe::fcntl_getpipe_size(&self.write_end))
                .unwrap_or(self.size);
        }
    }
}

/// One body's bytes still in Plex's socket, on their way to the player.
pub struct Source {
    upstream: Option<TcpStream>,
    pipe: Pipe,
    /// Bytes in the pipe, not yet handed to the player.
    in_pipe: usize,
    /// Bytes still to take from Plex (Content-Length minus what was read with the head).
    to_take: u64,
    idle: Duration,
    idle_timer: Pin<Box<Sleep>>,
    idle_armed: bool,
    observer: Box<dyn Observer>,
    /// Resolves when the body must stop (its ticket session was revoked).
    cancelled: Option<Cancel>,
    /// Gives the connection back for reuse once the body was relayed whole.
    release: Option<Box<dyn FnOnce(TcpStream) + Send>>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("in_pipe", &self.in_pipe)
            .field("to_take", &self.to_take)
            .finish_non_exhaustive()
    }
}

impl Source {
    /// A source for `len` body bytes waiting in `upstream`, moved through `pipe` (which must be
    /// empty). `release` gets the connection back when all of them were relayed; on any failure
    /// the connection is closed instead. When `cancelled` resolves the relay stops at once, even
    /// while the player is not reading.
    pub fn new(
        upstream: TcpStream,
        mut pipe: Pipe,
        len: u64,
        idle: Duration,
        observer: Box<dyn Observer>,
        release: Option<Box<dyn FnOnce(TcpStream) + Send>>,
        cancelled: Option<Cancel>,
    ) -> Source {
        pipe.fit(len);
        Source {
            upstream: Some(upstream),
            pipe,
            in_pipe: 0,
            to_take: len,
            idle,
            idle_timer: Box::pin(tokio::time::sleep(idle)),
            idle_armed: false,
            observer,
            cancelled,
            release,
        }
    }

    /// The pipe, for the connection's next body, if this one was relayed whole (so the pipe is
    /// empty).
    pub fn into_spare(self) -> Option<Pipe> {
        self.is_done().then_some(self.pipe)
    }

    /// Whether every byte reached the player's socket.
    pub fn is_done(&self) -> bool {
        self.to_take == 0 && self.in_pipe == 0
    }

    /// Moves up to `max` bytes to `client`. `Ready(Ok(n))` with `n > 0`, `Pending` while either
    /// side is not ready, or the error that ends the body (reported to the observer first when
    /// it is Plex's fault).
    pub fn poll_relay(
        &mut self,
        cx: &mut Context<'_>,
        client: &TcpStream,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        if let Some(cancelled) = self.cancelled.as_mut()
            && cancelled.as_mut().poll(cx).is_ready()
        {
            self.cancelled = None;
            self.upstream = None;
            return Poll::Ready(Err(io::Error::other(super::CutOff)));
        }
        loop {
            if self.in_pipe > 0 {
                ready!(client.poll_write_ready(cx))?;
                let want = self.in_pipe.min(max);
                let moved = client.try_io(Interest::WRITABLE, || {
                    splice(&self.pipe.read_end, client, want)
                });
                match moved {
                    Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        self.in_pipe -= n;
                        self.observer.sent(n as u64);
                        if self.is_done() {
                            self.finish();
                        }
                        return Poll::Ready(Ok(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            if self.to_take == 0 {
                // hyper asked for more than Content-Length: never happens with our frames.
                return Poll::Ready(Err(io::Error::other("relay asked past the body's end")));
            }
            let Some(upstream) = self.upstream.as_ref() else {
                return Poll::Ready(Err(io::Error::other("relay already finished")));
            };
            match upstream.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => self.idle_armed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.fail(e))),
                Poll::Pending => return self.wait_for_plex(cx),
            }
            let want = usize::try_from(self.to_take)
                .unwrap_or(usize::MAX)
                .min(self.pipe.size);
            let taken = upstream.try_io(Interest::READABLE, || {
                splice(upstream, &self.pipe.write_end, want)
            });
            match taken {
                Ok(0) => {
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("Plex closed the connection {} bytes short", self.to_take),
                    );
                    return Poll::Ready(Err(self.fail(e)));
                }
                Ok(n) => {
                    self.in_pipe += n;
                    self.to_take -= n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(self.fail(e))),
            }
        }
    }

    /// Plex has nothing for us yet: only this wait counts toward the idle timeout (a player
    /// that stops reading blocks on its own socket above, which never times out).
    fn wait_for_plex(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !self.idle_armed {
            self.idle_armed = true;
            let deadline = tokio::time::Instant::now() + self.idle;
            self.idle_timer.as_mut().reset(deadline);
        }
        ready!(self.idle_timer.as_mut().poll(cx));
        let e = io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "Plex sent nothing for {:?} while plexgate waited for the next bytes",
                self.idle
            ),
        );
        Poll::Ready(Err(self.fail(e)))
    }

    fn fail(&mut self, e: io::Error) -> io::Error {
        self.upstream = None;
        self.observer.upstream_failed(&e);
        e
    }

    fn finish(&mut self) {
        if let (Some(conn), Some(release)) = (self.upstream.take(), self.release.take()) {
            release(conn);
        }
    }
}

fn splice(
    from: impl std::os::fd::AsFd,
    to: impl std::os::fd::AsFd,
    len: usize,
) -> io::Result<usize> {
    rustix::pipe::splice(
        from,
        None,
        to,
        None,
        len,
        SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use std::sync::Arc;

    use super::*;
    use crate::relay::{Slot, SparePipes};

    struct Quiet;
    impl Observer for Quiet {
        fn sent(&mut self, _: u64) {}
        fn upstream_failed(&mut self, _: &io::Error) {}
    }

    async fn plex_side() -> TcpStream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (conn, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        drop(accepted);
        conn.unwrap()
    }

    fn source(conn: TcpStream, pipe: Pipe, len: u64) -> Source {
        let idle = Duration::from_secs(5);
        Source::new(conn, pipe, len, idle, Box::new(Quiet), None, None)
    }

    #[tokio::test]
    async fn only_a_pipe_emptied_by_a_whole_body_is_kept_for_the_next_one() {
        // A body with bytes still to relay (or still in its pipe) takes its pipe with it.
        let unfinished = source(plex_side().await, Pipe::new().unwrap(), 10);
        assert!(unfinished.into_spare().is_none());

        let pipe = Pipe::new().unwrap();
        let fd = pipe.read_end.as_raw_fd();
        let whole = source(plex_side().await, pipe, 0);
        let spare = whole.into_spare().expect("an emptied pipe is kept");
        assert_eq!(spare.read_end.as_raw_fd(), fd);

        // The connection hands the spare out once, then makes new ones.
        let slot = Slot::default();
        slot.lock().spare = Some(spare);
        assert_eq!(slot.pipe().unwrap().read_end.as_raw_fd(), fd);
        assert!(slot.lock().spare.is_none());
        assert!(slot.pipe().is_ok());
    }

    #[tokio::test]
    async fn a_closed_connections_spare_pipe_serves_the_next_connection() {
        let shared = Arc::new(SparePipes::new(1));
        let first = Slot::new(&shared);
        let pipe = first.pipe().unwrap();
        let fd = pipe.read_end.as_raw_fd();
        let whole = source(plex_side().await, pipe, 0);
        first.lock().spare = whole.into_spare();
        let request_copy = first.clone();
        drop(first);
        assert!(
            shared.is_empty(),
            "kept while a request still holds the slot"
        );
        drop(request_copy);
        assert_eq!(shared.len(), 1, "the closed connection's pipe waits");

        let next = Slot::new(&shared);
        assert_eq!(next.pipe().unwrap().read_end.as_raw_fd(), fd);
        assert!(shared.is_empty());

        // A connection that ends in the middle of a body leaves nothing behind.
        let cut = Slot::new(&shared);
        let unfinished = source(plex_side().await, cut.pipe().unwrap(), 10);
        cut.lock().source = Some(unfinished);
        drop(cut);
        assert!(shared.is_empty());

        // At most `max` wait; the rest are closed.
        for _ in 0..3 {
            let slot = Slot::new(&shared);
            slot.lock().spare = Some(Pipe::new().unwrap());
        }
        assert_eq!(shared.len(), 1);
    }

    #[tokio::test]
    async fn a_reused_pipe_grows_once_for_a_large_body() {
        let small = source(plex_side().await, Pipe::new().unwrap(), 1000);
        assert_eq!(
            small.pipe.size, DEFAULT_PIPE_SIZE,
            "a small body keeps the default"
        );
        let mut pipe = small.pipe;
        pipe.fit(8 << 20);
        // Where `pipe-max-size` allows it (the default does).
        assert_eq!(pipe.size, PIPE_SIZE);
        pipe.fit(1000);
        assert_eq!(pipe.size, PIPE_SIZE, "never shrinks");
    }
}
