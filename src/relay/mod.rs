//! Zero-copy relay of media bodies with `splice(2)` (Linux): Plex's socket → a pipe → the
//! player's socket, so the bytes of a part or segment never enter plexgate's memory.
//!
//! Why: copying through user space (read into a buffer, write it out) is a third of plexgate's
//! CPU at one connection, and the size of each copy trades throughput against the memory a slow
//! player holds (benches/README.md). Splicing moves page references instead, in pipe-sized steps.
//!
//! How, with hyper owning the player's socket: the connection's IO is a [`RelayIo`], which
//! shares a [`Slot`] with the request handler (a request extension, on HTTP/1 connections
//! only). For an eligible body the handler answers with a [`SplicedBody`] carrying a
//! [`Source`] (Plex's connection with the body still unread in it). The body's frames are
//! *placeholders*: slices of a private static buffer, [`placeholder`] bytes long, never read.
//! hyper frames them as usual (head, Content-Length accounting, keep-alive) and hands them to
//! `RelayIo::poll_write_vectored`, which recognises the placeholder by its address and splices
//! that many bytes from the source instead. Anything else (the head, the few body bytes that
//! arrived with Plex's head) is written normally, in order.
//!
//! The placeholder bytes must never be read by anything else: such a body is only made when
//! the request came in on a [`RelayIo`] over HTTP/1 (h2 copies frames), and its response carries
//! the [`Spliced`] marker, which the compression layer respects.

mod io;
mod pipe;

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

pub use io::RelayIo;
pub use pipe::{Cancel, PIPE_SIZE, Pipe, Source};

use crate::body::BoxError;

/// The largest placeholder frame. The static buffer lives in `.bss` and is never touched, so
/// it costs address space, not memory.
const PLACEHOLDER_LEN: usize = 512 << 10;
static PLACEHOLDER: [u8; PLACEHOLDER_LEN] = [0; PLACEHOLDER_LEN];

/// A placeholder frame standing for the next `len` bytes of the source (at most
/// [`PLACEHOLDER_LEN`]).
fn placeholder(len: usize) -> Bytes {
    Bytes::from_static(&PLACEHOLDER[..len.min(PLACEHOLDER_LEN)])
}

/// Whether `buf` starts inside the placeholder buffer (hyper may hand over a tail of one).
fn is_placeholder(buf: &[u8]) -> bool {
    PLACEHOLDER.as_ptr_range().contains(&buf.as_ptr())
}

/// What a relayed body reports while it runs: bytes handed to the player, and a failure that
/// was Plex's (silence past the idle timeout, a connection closed short, a socket error).
pub trait Observer: Send {
    /// `n` more bytes reached the player's socket.
    fn sent(&mut self, n: u64);
    /// The body ends here because of Plex; the player gets a truncated body.
    fn upstream_failed(&mut self, error: &std::io::Error);
}

/// The per-connection handoff between the handler that makes a [`SplicedBody`] and the
/// [`RelayIo`] that writes it; it also keeps the connection's pipe between bodies. Cheap to
/// clone.
#[derive(Clone, Debug, Default)]
pub struct Slot(Arc<Mutex<SlotState>>);

#[derive(Debug, Default)]
struct SlotState {
    /// The body being relayed.
    source: Option<Source>,
    /// An empty pipe left by the last body that was relayed whole.
    spare: Option<Pipe>,
    /// Where the spare goes when the connection closes, and where a new connection's first
    /// pipe comes from.
    shared: Option<Arc<SparePipes>>,
}

impl Drop for SlotState {
    fn drop(&mut self) {
        if let (Some(pipe), Some(shared)) = (self.spare.take(), &self.shared) {
            shared.put(pipe);
        }
    }
}

impl Slot {
    /// A slot for a new connection, whose pipes come from and go back to `shared`.
    pub fn new(shared: &Arc<SparePipes>) -> Slot {
        Slot(Arc::new(Mutex::new(SlotState {
            source: None,
            spare: None,
            shared: Some(shared.clone()),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // A panic while holding it leaves at worst a half-relayed source, which the next body
        // replaces.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pipe for the next body: the connection's spare one, one another connection left, or a
    /// new one.
    pub fn pipe(&self) -> std::io::Result<Pipe> {
        let mut state = self.lock();
        if let Some(pipe) = state.spare.take() {
            return Ok(pipe);
        }
        match state.shared.as_ref().and_then(|shared| shared.take()) {
            Some(pipe) => Ok(pipe),
            None => Pipe::new(),
        }
    }
}

/// Empty pipes left by closed connections, for the next ones. A player or a proxy in front
/// that opens a connection per segment would otherwise pay for a new pipe (`pipe2`, `fcntl`,
/// two `close`) before every first byte. Only pipes emptied by a whole body get here, so no
/// byte of one answer can reach another connection; at most `max` wait, two descriptors each.
#[derive(Debug)]
pub struct SparePipes {
    pipes: Mutex<Vec<Pipe>>,
    max: usize,
}

impl SparePipes {
    /// A pool keeping at most `max` pipes.
    pub fn new(max: usize) -> SparePipes {
        SparePipes {
            pipes: Mutex::new(Vec::with_capacity(max)),
            max,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Pipe>> {
        self.pipes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self) -> Option<Pipe> {
        self.lock().pop()
    }

    fn put(&self, pipe: Pipe) {
        let mut pipes = self.lock();
        if pipes.len() < self.max {
            pipes.push(pipe);
        }
    }

    /// Pipes waiting now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Marks a response whose body is a [`SplicedBody`]: nothing may read or re-encode it.
#[derive(Clone, Copy, Debug)]
pub struct Spliced;

/// A response body relayed by splicing: first the bytes that came with Plex's head (real
/// data), then placeholder frames for the rest. Its [`Source`] ends the relay with an error
/// when the ticket session is revoked, like a copied body.
pub struct SplicedBody {
    head: Option<Bytes>,
    /// Handed to the slot at the first poll, i.e. once hyper writes this body on the connection.
    source: Option<Source>,
    slot: Slot,
    /// Placeholder bytes still to emit.
    remaining: u64,
}

impl std::fmt::Debug for SplicedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplicedBody")
            .field("remaining", &self.remaining)
            .finish_non_exhaustive()
    }
}

/// The error a relay ends with when its source was cancelled (the ticket session was revoked).
#[derive(Debug, thiserror::Error)]
#[error("the ticket session was revoked")]
pub struct CutOff;

impl SplicedBody {
    /// `head` are the body bytes read along with Plex's response head; `source` holds the rest
    /// (`len` bytes).
    pub fn new(head: Bytes, source: Source, len: u64, slot: Slot) -> SplicedBody {
        SplicedBody {
            head: (!head.is_empty()).then_some(head),
            source: Some(source),
            slot,
            remaining: len,
        }
    }
}

impl HttpBody for SplicedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(source) = self.source.take() {
            self.slot.lock().source = Some(source);
        }
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(PLACEHOLDER_LEN);
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(placeholder(len)))))
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        let head = self.head.as_ref().map_or(0, |h| h.len() as u64);
        SizeHint::with_exact(head + self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised_by_address_only() {
        let p = placeholder(1000);
        assert!(is_placeholder(&p));
        assert!(is_placeholder(&p[999..]));
        let copy = vec![0u8; 1000];
        assert!(!is_placeholder(&copy), "equal bytes elsewhere are data");
        assert_eq!(placeholder(usize::MAX).len(), PLACEHOLDER_LEN);
    }
}
