//! The download fast path: chunk downloads answered without hyper, their
//! bytes sent with sendfile(2) straight from the page cache, as nginx
//! does, so a download costs the daemon no copy of the data.
//!
//! Every connection starts here. While its requests are plain downloads,
//! `GET /v1/contracts/{id}/chunks/{index}`, `GET
//! /v1/contracts/{id}/manifest` or `GET
//! /v1/contracts/{id}/listing-manifests/{hash}` (HTTP/1.1, no body, no
//! upgrade), by the Sender or a Receiver, they are parsed with httparse,
//! checked by the rules hyper's side uses too ([`download::check`]) and
//! answered here with the heads they give ([`download::Head`]), pipelined
//! ones in order (a client that fetches a manifest and then chunks stays
//! on this path).
//! The first other request (an upload, a status, an HTTP/1.0 or malformed
//! request, a head too long for this path) ends this path's part:
//! [`connection`] returns the connection, with the bytes already read, for
//! hyper to serve the rest of its life (`crate::server`): only the hot
//! path is hand-written.
//!
//! Bytes not all in the page cache are read in the blocking pool
//! ([`download::Serve::read`]) and written from memory, so a slow disk
//! never stalls the async threads.

use std::{
    fs::File,
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime},
};

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, StatusCode};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf},
    net::TcpStream,
    sync::watch,
};

use crate::download::{
    self, Answer, AppState, Ask, Head, Refuse, Target, CORS, HEAD_TIMEOUT_SECS, UNSATISFIABLE,
};

/// The longest request head this path reads; a longer one goes to hyper
/// (which answers it).
const MAX_HEAD: usize = 16 << 10;

/// Headers this path parses; a request with more goes to hyper.
const MAX_HEADERS: usize = 32;

/// Seconds an idle connection is kept open for its next request.
pub const KEEP_ALIVE_SECS: u64 = 75;

/// Seconds a response may wait for the client to take more of it before
/// the connection is dropped (a client that stops reading).
pub const SEND_TIMEOUT_SECS: u64 = 60;

/// A download request, parsed.
#[derive(Debug, PartialEq, Eq)]
struct Get {
    target: Target,
    ticket: Option<String>,
    /// A Receiver's claim of a link issued to it (`?claim=`).
    claim: Option<String>,
    /// An egress receipt (`?receipt=`), paying for a chunk.
    receipt: Option<String>,
    range: Option<String>,
    /// The client asked to close the connection after this response.
    close: bool,
    /// The request's length in the buffer (it has no body).
    len: usize,
}

/// What the start of a connection's buffer holds.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A download this path answers.
    Get(Get),
    /// Any other request, or bytes that are not one: hyper's.
    Other,
    /// Part of a request head.
    Partial,
}

fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    if req.method != Some("GET") || req.version != Some(1) {
        return Parsed::Other;
    }
    let Some(target) = req.path else {
        return Parsed::Other;
    };
    // A target hyper would refuse (bytes a URI may not hold) is hyper's to
    // refuse. Path and query as hyper sees them (a fragment dropped).
    let Ok(target) = target.parse::<http::uri::PathAndQuery>() else {
        return Parsed::Other;
    };
    let Some(wanted) = Target::parse(target.path()) else {
        return Parsed::Other;
    };
    let ask = Ask::new(target.query(), None);
    let mut range = None;
    let mut close = false;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("");
        let name = h.name;
        if name.eq_ignore_ascii_case("range") {
            // The first one counts, as on hyper's side.
            range.get_or_insert_with(|| value.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            if value.trim() != "0" {
                return Parsed::Other;
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("upgrade")
        {
            return Parsed::Other;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    close = true;
                } else if token.eq_ignore_ascii_case("upgrade") {
                    return Parsed::Other;
                }
            }
        }
    }
    Parsed::Get(Get {
        target: wanted,
        ticket: ask.ticket.map(str::to_owned),
        claim: ask.claim.map(str::to_owned),
        receipt: ask.receipt.map(str::to_owned),
        range,
        close,
        len,
    })
}

/// Serves one connection's downloads, until its first other request:
/// then the connection, with the bytes already read, is returned for
/// hyper to serve ([`Prefixed`]); `None` when it is over. Closes when the
/// client does, after [`KEEP_ALIVE_SECS`] idle or [`HEAD_TIMEOUT_SECS`]
/// into an unfinished head, when a response waits [`SEND_TIMEOUT_SECS`]
/// for the client to read, and between requests once `stop` turns true.
pub(crate) async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    state: &AppState,
    stop: &mut watch::Receiver<bool>,
) -> Option<Prefixed> {
    let mut buf = BytesMut::with_capacity(4096);
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(KEEP_ALIVE_SECS);
    loop {
        match parse(&buf) {
            Parsed::Get(mut req) => {
                let len = req.len;
                // Stopping: this is the connection's last response, and
                // it says so.
                req.close |= *stop.borrow();
                let open = serve(&mut stream, peer, state, req).await;
                buf.advance(len);
                if !open || *stop.borrow() {
                    let _ = stream.shutdown().await;
                    return None;
                }
                // Idle, or part of the next (pipelined) head is here.
                let wait = if buf.is_empty() {
                    KEEP_ALIVE_SECS
                } else {
                    HEAD_TIMEOUT_SECS
                };
                deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
                continue;
            }
            Parsed::Other => break,
            Parsed::Partial if buf.len() >= MAX_HEAD => break,
            Parsed::Partial => {}
        }
        if buf.is_empty() && *stop.borrow() {
            return None;
        }
        let was_empty = buf.is_empty();
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => r,
            // A request not yet whole is not in flight: close.
            _ = stop.changed() => return None,
        };
        match read {
            // The client closed, or the deadline passed.
            Ok(Ok(0)) | Err(_) => return None,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, %peer, "connection ended");
                return None;
            }
        }
        if was_empty {
            // A head has begun: it has HEAD_TIMEOUT_SECS to be whole.
            deadline = tokio::time::Instant::now() + Duration::from_secs(HEAD_TIMEOUT_SECS);
        }
    }
    Some(Prefixed {
        read: buf.freeze(),
        stream,
    })
}

/// Answers one download; whether the connection stays open.
async fn serve(stream: &mut TcpStream, peer: SocketAddr, state: &AppState, req: Get) -> bool {
    let started = Instant::now();
    let route = req.target.route();
    let ask = Ask {
        ticket: req.ticket.as_deref(),
        claim: req.claim.as_deref(),
        receipt: req.receipt.as_deref(),
        range: req.range.as_deref(),
    };
    let close = req.close;
    let answer = download::check(state, req.target, &ask).await;
    let (status, sent) = match answer {
        Err(refused) => refusal(stream, peer, route, refused, close).await,
        Ok(Answer::Unsatisfiable(len)) => {
            let head = Head::unsatisfiable(len);
            let sent = send_text(stream, &head, UNSATISFIABLE, close).await;
            (head.status, sent)
        }
        Ok(Answer::Whole(data)) => {
            let head = Head::whole();
            let bytes = head_bytes(&head, data.len() as u64, close);
            (head.status, send(stream, bytes, data).await)
        }
        Ok(Answer::Chunk(serve)) => {
            let source = match serve.resident(state).await {
                Ok(Some(file)) => Ok(Source::File(file)),
                Ok(None) => serve.read(state).await.map(Source::Bytes),
                Err(refused) => Err(refused),
            };
            match source {
                Err(refused) => refusal(stream, peer, route, refused, close).await,
                Ok(source) => {
                    let head = serve.head();
                    let (start, end) = (serve.start, serve.end);
                    let bytes = head_bytes(&head, end - start, close);
                    let sent = match source {
                        Source::File(file) => send_file(stream, &bytes, &file, start, end).await,
                        Source::Bytes(data) => send(stream, bytes, data).await,
                    };
                    match &sent {
                        Ok(()) => serve.served(state),
                        Err(e) => tracing::debug!(error = %e, %peer, "download cut short"),
                    }
                    (head.status, sent)
                }
            }
        }
    };
    download::observe(state, route, status, started);
    sent.is_ok() && !close
}

/// Answers a refused download on `route`: its status and whether it was
/// sent.
async fn refusal(
    stream: &mut TcpStream,
    peer: SocketAddr,
    route: &str,
    Refuse(status, reason): Refuse,
    close: bool,
) -> (StatusCode, io::Result<()>) {
    download::refused(peer, &Method::GET, route, status, &reason);
    (
        status,
        send_text(stream, &Head::text(status), reason, close).await,
    )
}

/// Where a download's bytes come from.
enum Source {
    /// The chunk file, all of the range in the page cache: sendfile.
    File(File),
    /// Bytes read in the blocking pool.
    Bytes(Bytes),
}

/// The bytes of a response head: `head`, then the headers every answer
/// carries.
fn head_bytes(head: &Head, length: u64, close: bool) -> Bytes {
    use std::fmt::Write;
    let mut h = String::with_capacity(256);
    let status = head.status;
    let _ = write!(
        h,
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    head.each_header(|name, value| {
        let _ = write!(h, "{name}: {value}\r\n");
    });
    for (name, value) in CORS {
        let _ = write!(h, "{name}: {value}\r\n");
    }
    let _ = write!(
        h,
        "content-length: {length}\r\ndate: {}\r\n",
        httpdate::fmt_http_date(SystemTime::now())
    );
    if close {
        h.push_str("connection: close\r\n");
    }
    h.push_str("\r\n");
    h.into()
}

/// Sends a one-line text answer (a refusal, a 416).
async fn send_text(
    stream: &mut TcpStream,
    head: &Head,
    text: impl Into<String>,
    close: bool,
) -> io::Result<()> {
    let body = download::line(text);
    let bytes = head_bytes(head, body.len() as u64, close);
    send(stream, bytes, body).await
}

/// Sends a head and a body from memory (one vectored write when it fits),
/// within [`SEND_TIMEOUT_SECS`] of the client taking none of it.
async fn send(stream: &mut TcpStream, head: Bytes, body: Bytes) -> io::Result<()> {
    let mut data = head.chain(body);
    while data.has_remaining() {
        let n = {
            let mut parts = [io::IoSlice::new(&[]); 2];
            let k = data.chunks_vectored(&mut parts);
            tokio::time::timeout(
                Duration::from_secs(SEND_TIMEOUT_SECS),
                stream.write_vectored(&parts[..k]),
            )
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))??
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data.advance(n);
    }
    Ok(())
}

/// Sends `head`, then bytes `start..end` of `file` with sendfile(2). The
/// head goes with MSG_MORE so it leaves in one segment with the first
/// bytes of data. A file cut short meanwhile only makes sendfile send
/// less (the kernel copies; nothing of the file is mapped into the
/// daemon): that is an error, and the connection closes with the body
/// short.
async fn send_file(
    stream: &TcpStream,
    head: &[u8],
    file: &File,
    start: u64,
    end: u64,
) -> io::Result<()> {
    use rustix::net::{send, SendFlags};
    let mut sent = 0;
    while sent < head.len() {
        let rest = &head[sent..];
        sent += write_with(stream, || {
            Ok(send(stream, rest, SendFlags::MORE | SendFlags::NOSIGNAL)?)
        })
        .await?;
    }
    let mut offset = start;
    while offset < end {
        let count = usize::try_from(end - offset).unwrap_or(usize::MAX);
        // The kernel advances `offset` by the bytes it sent.
        let n = write_with(stream, || {
            Ok(rustix::fs::sendfile(
                stream,
                file,
                Some(&mut offset),
                count,
            )?)
        })
        .await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the chunk file ended early",
            ));
        }
    }
    Ok(())
}

/// Runs a non-blocking write syscall on `stream` when it is writable: the
/// bytes it wrote. Waiting more than [`SEND_TIMEOUT_SECS`] for room is an
/// error.
async fn write_with(
    stream: &TcpStream,
    mut call: impl FnMut() -> io::Result<usize>,
) -> io::Result<usize> {
    loop {
        tokio::time::timeout(Duration::from_secs(SEND_TIMEOUT_SECS), stream.writable())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading"))??;
        match stream.try_io(Interest::WRITABLE, &mut call) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return r,
        }
    }
}

/// A connection with the bytes already read from it in front: what this
/// path hands over (an [`AsyncRead`] and [`AsyncWrite`]).
pub(crate) struct Prefixed {
    read: Bytes,
    stream: TcpStream,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(req: &str) -> Get {
        match parse(req.as_bytes()) {
            Parsed::Get(c) => c,
            other => panic!("{req:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn a_plain_chunk_or_manifest_get_takes_the_fast_path() {
        let req = "GET /v1/contracts/4/chunks/7?x=1&ticket=abcd HTTP/1.1\r\n\
                   Host: h\r\nRange: bytes=0-9\r\nRange: bytes=5-9\r\n\r\nGET";
        assert_eq!(
            chunk(req),
            Get {
                target: Target::Chunk(4, 7),
                ticket: Some("abcd".into()),
                claim: None,
                receipt: None,
                range: Some("bytes=0-9".into()),
                close: false,
                len: req.len() - 3,
            }
        );
        let c = chunk("GET /v1/contracts/4/chunks/7 HTTP/1.1\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n");
        assert!(c.close && c.ticket.is_none() && c.range.is_none());
        let claimed = chunk("GET /v1/contracts/4/chunks/7?ticket=ab&claim=cd HTTP/1.1\r\n\r\n");
        assert_eq!(claimed.claim.as_deref(), Some("cd"));
        let paid = chunk("GET /v1/contracts/4/chunks/7?receipt=0a0b&ticket=ab HTTP/1.1\r\n\r\n");
        assert_eq!(
            (paid.receipt.as_deref(), paid.ticket.as_deref()),
            (Some("0a0b"), Some("ab"))
        );
        let m = chunk("GET /v1/contracts/4/manifest?ticket=ab HTTP/1.1\r\n\r\n");
        assert_eq!(m.target, Target::Manifest(4));
        let hash = "0c".repeat(32);
        let l = chunk(&format!(
            "GET /v1/contracts/4/listing-manifests/{hash}?ticket=ab HTTP/1.1\r\n\r\n"
        ));
        assert_eq!(l.target, Target::ListingManifest(4, [0x0c; 32]));
        // A fragment is not part of the query (hyper drops it too).
        let f = chunk("GET /v1/contracts/4/chunks/7?ticket=ab#x&ticket=cd HTTP/1.1\r\n\r\n");
        assert_eq!(f.ticket.as_deref(), Some("ab"));
    }

    #[test]
    fn anything_else_goes_to_hyper() {
        for req in [
            "PUT /v1/contracts/4/chunks/7 HTTP/1.1\r\n\r\n",
            "GET /v1/contracts/4/chunks/7 HTTP/1.0\r\n\r\n",
            "GET /v1/contracts/4 HTTP/1.1\r\n\r\n",
            "GET /v1/contracts/4/chunks/x HTTP/1.1\r\n\r\n",
            "GET /v1/contracts/4/chunks/7 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /v1/contracts/4/chunks/7 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /v1/contracts/4/chunks/7 HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /v1/contracts/4/chunks/7 HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            "GET /v1/contracts/4/chunks/7 HTTP/1.1\r\nBad Header\r\n\r\n",
            "GET /v1/contracts/4/chunks/7?ticket=a<b HTTP/1.1\r\n\r\n",
            "\x16\x03\x01\x02\x00",
        ] {
            assert_eq!(parse(req.as_bytes()), Parsed::Other, "{req:?}");
        }
    }

    #[test]
    fn a_head_in_pieces_waits_for_the_rest() {
        assert_eq!(parse(b""), Parsed::Partial);
        assert_eq!(parse(b"GET /v1/contracts/4/chu"), Parsed::Partial);
        assert_eq!(
            parse(b"GET /v1/contracts/4/chunks/7 HTTP/1.1\r\nRange: by"),
            Parsed::Partial
        );
    }

    #[test]
    fn a_response_head_is_http_1_1() {
        let h = head_bytes(&Head::unsatisfiable(100), 10, true);
        let text = std::str::from_utf8(&h).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\ncontent-range: bytes */100\r\n"),
            "{text}"
        );
        assert!(
            text.contains("\r\naccess-control-allow-origin: *\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\ncontent-length: 10\r\n"), "{text}");
        assert!(text.contains("\r\ndate: "), "{text}");
        assert!(text.ends_with("\r\nconnection: close\r\n\r\n"), "{text}");
    }
}
