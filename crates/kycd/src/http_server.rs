//! The HTTP server loop: kycd's router on hyper's HTTP/1.1 connections, with the two
//! timeouts `axum::serve` does not offer, so slow-loris clients cannot hold connections
//! (and file descriptors) forever:
//!
//! - **header timeout** (`KYCD_HEADER_TIMEOUT_SECONDS`): a request's head, and an idle
//!   keep-alive connection's next one, must arrive within it, or the connection is closed;
//! - **body timeout** (`KYCD_BODY_TIMEOUT_SECONDS`): a request's whole body must arrive
//!   within it, counted from the end of its head; a body still trickling in then gets
//!   `408 request-timeout` (problem+json) and the connection is closed.
//!
//! And a lingering read: a handler that refuses a body part-way (too large, bad key)
//! drops it unread. hyper would then close the socket with the client's bytes still in
//! the kernel's receive buffer, the kernel answers with a reset, and a client still
//! writing sees "broken pipe" instead of our 400 or 413. Like nginx's lingering close,
//! the rest of such a body is read and thrown away, at most [`DRAIN_MAX_BYTES`] within
//! [`DRAIN_MAX_TIME`], so the answer reaches the client. hyper and tower-http offer no
//! such option, hence this wrapper.

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub body: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            header: Duration::from_secs(30),
            body: Duration::from_secs(120),
        }
    }
}

/// Serve `app` on `listener` until `shutdown` resolves, then let the open connections
/// finish their requests (at most 30 s).
pub async fn serve(listener: tokio::net::TcpListener, app: Router, t: Timeouts, shutdown: impl Future<Output = ()>) {
    let app = with_body_deadline(app, t.body);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = stream;
        // Without it, the last short segment of a download waits for the client's
        // delayed ACK (Nagle's algorithm): up to 40 ms at the end of one response in four
        // on a kept-alive connection (docs/BENCHMARKS.md). nginx sets it too.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set");
        }
        // The peer's address rides along in each request (per-address sign-in limits).
        let inner = TowerToHyperService::new(app.clone());
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
            hyper::service::Service::call(&inner, req)
        });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(t.header);
            let mut conn = pin!(builder.serve_connection(TokioIo::new(stream), service));
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(stop);
        });
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), stop_tx.closed()).await;
}

/// Every request's body must arrive within `limit` (see the module docs).
pub fn with_body_deadline(app: Router, limit: Duration) -> Router {
    app.layer(axum::middleware::from_fn_with_state(limit, body_deadline))
        .layer(axum::middleware::from_fn(drain_refused_bodies))
}

/// The most of a refused body read and thrown away so its client gets the answer (a
/// body whose rest is declared larger is dropped at once and its connection reset).
pub const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// How long a refused body is read at most.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);

async fn drain_refused_bodies(req: Request, next: Next) -> Response {
    next.run(req.map(|inner| Body::new(DrainOnDrop { inner: Some(inner) }))).await
}

/// A body that, dropped before its end, has its rest read and thrown away in the
/// background (see the module docs).
struct DrainOnDrop {
    inner: Option<Body>,
}

impl HttpBody for DrainOnDrop {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = std::task::ready!(Pin::new(&mut *inner).poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) {
            // Ended or failed: nothing left to drain.
            this.inner = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| http_body::SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(rest) = self.inner.take() else { return };
        if rest.is_end_stream() || rest.size_hint().lower() > DRAIN_MAX_BYTES {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let _ = tokio::time::timeout(DRAIN_MAX_TIME, drain(rest, DRAIN_MAX_BYTES)).await;
        });
    }
}

/// Read `body` to its end, or until more than `max` bytes came; keep none of it.
async fn drain(mut body: Body, max: u64) {
    let mut read = 0u64;
    while let Some(Ok(frame)) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
        if read > max {
            return;
        }
    }
}

async fn body_deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    let timed_out = Arc::new(AtomicBool::new(false));
    let req = req.map(|inner| {
        Body::new(DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            timed_out: timed_out.clone(),
        })
    });
    let resp = next.run(req).await;
    if !timed_out.load(Ordering::Acquire) {
        return resp;
    }
    // The router's answer is replaced; its request id (in the log lines) is kept.
    let request_id = resp.headers().get(kycd_http::REQUEST_ID).cloned();
    let mut resp = kycd_http::ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        format!(
            "the request body did not arrive within {} s; send it again on a faster connection",
            limit.as_secs()
        ),
    )
    .into_response();
    let h = resp.headers_mut();
    if let Some(id) = request_id {
        h.insert(kycd_http::REQUEST_ID, id);
    }
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A body that fails once its deadline has passed, and says so in `timed_out`.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.timed_out.store(true, Ordering::Release);
                let e = std::io::Error::new(std::io::ErrorKind::TimedOut, "the request body did not arrive in time");
                Poll::Ready(Some(Err(axum::Error::new(e))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;

    async fn echo_len(body: Bytes) -> String {
        body.len().to_string()
    }

    fn app(limit: Duration) -> Router {
        with_body_deadline(Router::new().route("/", post(echo_len)), limit)
    }

    async fn call(app: Router, body: Body) -> Response {
        use tower::ServiceExt;
        app.oneshot(Request::post("/").body(body).unwrap()).await.unwrap()
    }

    /// Two bytes every 100 ms, 100 times: a slow-loris body.
    struct Trickle {
        left: u32,
        next: Pin<Box<tokio::time::Sleep>>,
    }

    impl HttpBody for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            let this = self.get_mut();
            if this.left == 0 {
                return Poll::Ready(None);
            }
            match this.next.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => {
                    this.left -= 1;
                    this.next = Box::pin(tokio::time::sleep(Duration::from_millis(100)));
                    Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"ab")))))
                }
            }
        }
    }

    #[tokio::test]
    async fn a_body_that_trickles_past_the_deadline_gets_408() {
        let trickle = Trickle {
            left: 100,
            next: Box::pin(tokio::time::sleep(Duration::ZERO)),
        };
        let started = std::time::Instant::now();
        let resp = call(app(Duration::from_secs(1)), Body::new(trickle)).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(resp.headers()[header::CONNECTION], "close");
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/problem+json");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["type"], "https://kycd.dev/problems/request-timeout");
        assert!(v["detail"].as_str().unwrap().contains("within 1 s"), "{v}");
    }

    #[tokio::test]
    async fn a_body_in_time_is_untouched() {
        let resp = call(app(Duration::from_secs(1)), Body::from("hello")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], b"5");
        // A handler that finishes after the deadline, its body long read, is not a timeout.
        let slow = Router::new().route(
            "/",
            post(|b: Bytes| async move {
                tokio::time::sleep(Duration::from_millis(700)).await;
                b.len().to_string()
            }),
        );
        let resp = call(with_body_deadline(slow, Duration::from_millis(200)), Body::from("abc")).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }

    /// A client that sends its whole too-large body before reading gets the 413, not a
    /// reset: without the lingering read its writes fail with "broken pipe".
    #[tokio::test]
    async fn a_refused_body_is_drained_so_the_client_reads_the_answer() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = Router::new()
            .route("/", post(echo_len))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, app, Timeouts::default(), std::future::pending()));
        let body = vec![b'x'; 16 * 1024 * 1024];
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len());
        c.write_all(head.as_bytes()).await.unwrap();
        c.write_all(&body).await.expect("the server reads the refused body to its end");
        let mut answer = Vec::new();
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).await.unwrap();
            assert!(n > 0, "the connection closed before an answer: {answer:?}");
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        // A body whose rest is declared past the drain limit is not read: its connection
        // is closed.
        let declared = DRAIN_MAX_BYTES + (4 << 20);
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = format!("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {declared}\r\n\r\n");
        c.write_all(head.as_bytes()).await.unwrap();
        let mut sent = 0u64;
        let chunk = vec![b'x'; 1 << 20];
        while sent < declared {
            if c.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        assert!(sent < declared, "the server should stop reading a body past the drain limit");
    }
}
