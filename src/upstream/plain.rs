//! GETs to a plain-HTTP Plex whose body plexgate relays by `splice(2)` (`crate::relay`), on
//! connections plexgate owns: the body has to stay unread in the socket, which hyper's client
//! (it reads ahead into its own buffer and keeps the socket) cannot give.
//!
//! Deliberately small: one request head written whole, one response head parsed with
//! `httparse` (hyper's own parser), no body reading at all. The caller relays a 200/206 with a
//! Content-Length; any other answer is handed to hyper as it stands (`Answer::into_response`,
//! `super::replay`), never asked for again. TLS goes through [`super::media::MediaClient`]. Connections are kept
//! alive per server and reused when a body was relayed whole, like the media client's pool.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::media::SOCKET_RECV_BUFFER;

/// Largest response head accepted (Plex's are under 1 KiB).
const MAX_HEAD: usize = 64 << 10;
/// How long an idle connection is kept, and how many per server.
const IDLE_FOR: Duration = Duration::from_secs(90);
const IDLE_PER_SERVER: usize = 32;

/// Why a GET got no usable response head.
#[derive(Debug, thiserror::Error)]
pub enum PlainError {
    /// No connection could be made (the address is in `upstream::Error`'s log line, not here).
    #[error("could not connect: {0}")]
    Connect(io::Error),
    /// The connection broke before a complete response head.
    #[error("the connection broke: {0}")]
    Io(io::Error),
    /// What came back is not an HTTP/1.x response head.
    #[error("malformed response head: {0}")]
    Malformed(&'static str),
}

impl PlainError {
    /// Whether no connection could be made at all.
    pub fn is_connect(&self) -> bool {
        matches!(self, PlainError::Connect(_))
    }
}

/// A response head, with the connection its body is still in.
#[derive(Debug)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers as Plex sent them.
    pub headers: HeaderMap,
    /// The response head as it arrived (for `into_response`, `super::replay`).
    pub(super) head: Bytes,
    /// Body bytes that arrived with the head (already read).
    pub early: Bytes,
    /// Content-Length, if given and there is no Transfer-Encoding.
    pub content_length: Option<u64>,
    /// Whether the connection may carry another request after this body.
    pub reusable: bool,
    /// The connection, positioned right after `early`.
    pub conn: TcpStream,
}

type Pool = Arc<Mutex<HashMap<String, Vec<(TcpStream, Instant)>>>>;

/// Keep-alive connections to plain-HTTP servers. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PlainClient {
    pool: Pool,
    connect_timeout: Duration,
}

impl Default for PlainClient {
    fn default() -> Self {
        PlainClient {
            pool: Pool::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl PlainClient {
    /// Sends `GET uri` with `headers` (Host is added) and reads the response head. A kept-alive
    /// connection that turns out closed is replaced by a fresh one, once.
    pub async fn get(&self, uri: &Uri, headers: &HeaderMap) -> Result<Answer, PlainError> {
        let authority = uri
            .authority()
            .ok_or(PlainError::Malformed("no host in the address"))?
            .as_str();
        let head = request_head(uri, authority, headers);
        if let Some(conn) = self.checkout(authority) {
            match exchange(conn, &head).await {
                Ok(answer) => return Ok(answer),
                // A stale connection: Plex closed it while it sat in the pool.
                Err(PlainError::Io(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let conn = self.connect(uri).await?;
        exchange(conn, &head).await
    }

    /// A callback that puts a connection back into the pool for `authority`.
    pub fn releaser(&self, authority: String) -> Box<dyn FnOnce(TcpStream) + Send> {
        let pool = self.pool.clone();
        Box::new(move |conn| {
            let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
            let idle = pool.entry(authority).or_default();
            if idle.len() < IDLE_PER_SERVER {
                idle.push((conn, Instant::now()));
            }
        })
    }

    fn checkout(&self, authority: &str) -> Option<TcpStream> {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let idle = pool.get_mut(authority)?;
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && is_quiet(&conn) {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self, uri: &Uri) -> Result<TcpStream, PlainError> {
        let host = uri.host().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let addrs = tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| PlainError::Connect(io::ErrorKind::TimedOut.into()))?
            .map_err(PlainError::Connect)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the name has no address");
        for addr in addrs {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }
            .map_err(PlainError::Connect)?;
            // Bounds what the kernel reads ahead of a paused player (see `media`).
            let _ = socket.set_recv_buffer_size(SOCKET_RECV_BUFFER as u32);
            match tokio::time::timeout_at(deadline, socket.connect(addr)).await {
                Ok(Ok(conn)) => {
                    let _ = conn.set_nodelay(true);
                    return Ok(conn);
                }
                Ok(Err(e)) => last = e,
                Err(_) => return Err(PlainError::Connect(io::ErrorKind::TimedOut.into())),
            }
        }
        Err(PlainError::Connect(last))
    }
}

/// An idle connection is usable when it has nothing to read: no early bytes, no close.
fn is_quiet(conn: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(conn.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

fn request_head(uri: &Uri, authority: &str, headers: &HeaderMap) -> Vec<u8> {
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(b"GET ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    head.extend_from_slice(authority.as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        if name == http::header::HOST || name == http::header::CONNECTION {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

async fn exchange(mut conn: TcpStream, head: &[u8]) -> Result<Answer, PlainError> {
    conn.write_all(head).await.map_err(PlainError::Io)?;
    let mut buf = BytesMut::with_capacity(8 << 10);
    loop {
        if conn.read_buf(&mut buf).await.map_err(PlainError::Io)? == 0 {
            return Err(PlainError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut slots);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let parsed = parse_head(&resp)?;
                let early = buf.split_off(len).freeze();
                return Ok(Answer {
                    status: parsed.0,
                    headers: parsed.1,
                    head: buf.freeze(),
                    early,
                    content_length: parsed.2,
                    reusable: parsed.3,
                    conn,
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {
                buf.reserve(8 << 10);
            }
            Ok(httparse::Status::Partial) => return Err(PlainError::Malformed("head too large")),
            Err(_) => return Err(PlainError::Malformed("not an HTTP/1.x response")),
        }
    }
}

type Parsed = (StatusCode, HeaderMap, Option<u64>, bool);

fn parse_head(resp: &httparse::Response<'_, '_>) -> Result<Parsed, PlainError> {
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(PlainError::Malformed("bad status"))?;
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    for h in resp.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| PlainError::Malformed("bad header name"))?;
        let value = HeaderValue::from_bytes(h.value)
            .map_err(|_| PlainError::Malformed("bad header value"))?;
        headers.append(name, value);
    }
    let chunked = headers.contains_key(http::header::TRANSFER_ENCODING);
    let mut lengths = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let content_length = match (lengths.next(), lengths.next()) {
        (Some(v), None) if !chunked => v.to_str().ok().and_then(|v| v.trim().parse().ok()),
        _ => None,
    };
    let close = headers.get_all(http::header::CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("close"))
    });
    let reusable = resp.version == Some(1) && !close && content_length.is_some();
    Ok((status, headers, content_length, reusable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_is_one_get_with_host_and_the_given_headers() {
        let uri: Uri = "http://127.0.0.1:32400/library/parts/1/2/file.mkv?x=1"
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("range", HeaderValue::from_static("bytes=0-"));
        headers.insert("connection", HeaderValue::from_static("close"));
        let head = String::from_utf8(request_head(&uri, "127.0.0.1:32400", &headers)).unwrap();
        assert_eq!(
            head,
            "GET /library/parts/1/2/file.mkv?x=1 HTTP/1.1\r\nhost: 127.0.0.1:32400\r\nrange: bytes=0-\r\n\r\n"
        );
    }

    fn parse(text: &str) -> Result<Parsed, PlainError> {
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut slots);
        resp.parse(text.as_bytes()).unwrap();
        parse_head(&resp)
    }

    #[test]
    fn only_a_single_length_without_transfer_encoding_counts() {
        let ok = parse("HTTP/1.1 206 Partial Content\r\ncontent-length: 10\r\n\r\n").unwrap();
        assert_eq!((ok.0.as_u16(), ok.2, ok.3), (206, Some(10), true));
        let chunked =
            parse("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 10\r\n\r\n")
                .unwrap();
        assert_eq!((chunked.2, chunked.3), (None, false));
        let twice =
            parse("HTTP/1.1 200 OK\r\ncontent-length: 10\r\ncontent-length: 11\r\n\r\n").unwrap();
        assert_eq!(twice.2, None);
        let closing =
            parse("HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\n").unwrap();
        assert!(!closing.3);
        let old = parse("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").unwrap();
        assert!(!old.3);
    }
}
