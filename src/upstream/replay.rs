//! A plain-HTTP answer whose head plexgate already read (`super::plain`), handed to hyper's
//! HTTP/1 client to read the body in whatever framing Plex chose: chunked, until close, or a
//! length plexgate will not splice (a manifest, a 304).
//!
//! Why not ask again through the media client: a transcoder segment's GET has effects on Plex
//! (it feeds the transcoder's throttle and its idea of where the player is), and asking twice
//! also costs a round trip. hyper reads the head a second time from the bytes already taken,
//! then the rest from the socket; its copy of the request is dropped, because the request went
//! out already.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use http_body_util::Empty;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::media::READ_BUFFER;
use super::plain::{Answer, PlainError};

/// The connection as hyper sees it: first the bytes already read, then the socket. Nothing
/// is readable before hyper has "sent" its request: a response arriving on an idle connection
/// is an error to hyper.
struct Replay {
    taken: [Bytes; 2],
    io: TokioIo<TcpStream>,
    asked: bool,
    reader: Option<Waker>,
}

impl Read for Replay {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.asked {
            self.reader = Some(cx.waker().clone());
            return Poll::Pending;
        }
        if let Some(front) = self.taken.iter_mut().find(|b| !b.is_empty()) {
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for Replay {
    /// The request went out already (`plain`): hyper's copy of it goes nowhere.
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.asked = true;
        if let Some(reader) = self.reader.take() {
            reader.wake();
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Answer {
    /// This answer as hyper's client reads it, for `uri` (the GET that was sent): the head
    /// again, then a body in any framing, with bounded reads like the media client's. The
    /// connection closes after this body.
    pub async fn into_response(
        self,
        uri: &http::Uri,
    ) -> Result<http::Response<hyper::body::Incoming>, PlainError> {
        let io = Replay {
            taken: [self.head, self.early],
            io: TokioIo::new(self.conn),
            asked: false,
            reader: None,
        };
        let broken = |e: hyper::Error| PlainError::Io(io::Error::other(e));
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .read_buf_exact_size(Some(READ_BUFFER))
            .handshake(io)
            .await
            .map_err(broken)?;
        // Drives the connection until the body is read or dropped; it ends on its own then,
        // since `sender` is gone.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut req = http::Request::new(Empty::<Bytes>::new());
        *req.uri_mut() = uri.clone();
        sender.ready().await.map_err(broken)?;
        sender.send_request(req).await.map_err(broken)
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::upstream::plain::PlainClient;

    /// A server that answers one GET with `answer`, sent in two writes, and counts requests.
    async fn server(
        answer: &'static [&'static [u8]],
    ) -> (http::Uri, tokio::task::JoinHandle<usize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}/video/x/0.ts", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            for part in answer {
                conn.write_all(part).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            // Whatever else arrives would be a second request.
            let more = conn.read(&mut buf).await.unwrap_or(0);
            let requests = got.windows(4).filter(|w| *w == b"GET ").count();
            requests + usize::from(more > 0)
        });
        (uri.parse().unwrap(), task)
    }

    #[tokio::test]
    async fn a_chunked_answer_is_read_by_hyper_without_asking_again() {
        let (uri, requests) = server(&[
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-type: video/mp2t\r\n\r\n5\r\nhel",
            b"lo\r\n6\r\n world\r\n0\r\n\r\n",
        ])
        .await;
        let answer = PlainClient::default()
            .get(&uri, &http::HeaderMap::new())
            .await
            .unwrap();
        assert_eq!(answer.content_length, None);
        let resp = answer.into_response(&uri).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "video/mp2t");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello world");
        assert_eq!(requests.await.unwrap(), 1, "Plex was asked twice");
    }

    #[tokio::test]
    async fn a_body_that_runs_until_close_is_read_whole() {
        let (uri, requests) =
            server(&[b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nab", b"cd"]).await;
        let answer = PlainClient::default()
            .get(&uri, &http::HeaderMap::new())
            .await
            .unwrap();
        let resp = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let resp = answer.into_response(&uri).await.unwrap();
            // The server closes only after counting: read what it sent so far, then let it go.
            let mut body = resp.into_body();
            let mut got = Vec::new();
            while got.len() < 4 {
                let frame = body.frame().await.unwrap().unwrap();
                got.extend_from_slice(frame.data_ref().unwrap());
            }
            got
        })
        .await
        .unwrap();
        assert_eq!(&resp[..], b"abcd");
        drop(requests);
    }
}
