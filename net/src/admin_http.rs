//! The admin HTTP listener: `GET /metrics` (Prometheus text format) and
//! `GET /health` (200 `ready` once every data shard has recovered its logs
//! and listens, 503 before and while stopping; `/ready` is the same).
//!
//! It is served by hyper (HTTP/1.1, keep-alive) on a current-thread tokio
//! runtime that runs on a thread of its own, off the shards' cores'
//! reactors, and reads only what shards publish ([`MetricsRegistry`]).
//! Every connection is its own task, so a slow or silent client delays
//! nobody else. What any client can hold is bounded:
//! - a connection that sends no complete request head within
//!   [`HEADER_READ_TIMEOUT`] (idle keep-alive included) is closed;
//! - a request head is at most [`REQUEST_HEAD_BYTES_MAX`] bytes (431 past it);
//! - at most [`CONNECTIONS_MAX`] connections are open: accepting one more
//!   closes the oldest, so a flood of idle connections cannot lock an
//!   orchestrator's health check out (the newest connection is the one
//!   that is about to send a request);
//! - a scrape (which waits up to two seconds for the shards' gauges) runs
//!   on the runtime's blocking pool, so it never holds up `/health`.
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::task::AbortHandle;

use crate::metrics::MetricsRegistry;

/// Largest request head read, in bytes (hyper answers 431 past it; it
/// refuses a limit below 8 KiB).
pub const REQUEST_HEAD_BYTES_MAX: usize = 16 << 10;
const _: () = assert!(REQUEST_HEAD_BYTES_MAX >= 8192);
/// How long a connection may take to send a whole request head, counted
/// from when the server starts waiting for it (so it also bounds an idle
/// keep-alive connection). Longer than Prometheus's default 15 s scrape
/// interval, so a scraper's kept-alive connection is reused.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections open at once; one more closes the oldest.
pub const CONNECTIONS_MAX: usize = 256;
/// Threads that run scrapes (each waits for the shards' gauges); more
/// concurrent scrapes queue.
const SCRAPE_THREADS_MAX: usize = 2;
/// How often the accept loop looks at the shutdown flag.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);
const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `address` and serves until `shutdown` is set, on a new thread.
///
/// # Errors
/// If the address cannot be bound or the thread not started.
pub fn spawn(
    address: SocketAddr,
    registry: Arc<MetricsRegistry>,
    data_shards: usize,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(address)?;
    spawn_on(listener, registry, data_shards, shutdown)
}

/// Serves on an already bound `listener` until `shutdown` is set, on a new
/// thread (its own tokio runtime).
///
/// # Errors
/// If the runtime or the thread cannot be started.
pub fn spawn_on(
    listener: TcpListener,
    registry: Arc<MetricsRegistry>,
    data_shards: usize,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(SCRAPE_THREADS_MAX)
        .thread_name("skein-admin-scrape")
        .build()?;
    tracing::info!(admin_listen = %address, "admin HTTP listener up (/metrics, /health)");
    let endpoint = Arc::new(Endpoint {
        registry,
        data_shards,
    });
    std::thread::Builder::new()
        .name("skein-admin-http".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(listener, endpoint, &shutdown).await,
                    Err(error) => {
                        tracing::error!(%error, "admin HTTP listener cannot be registered")
                    }
                }
            });
        })
}

/// What requests are answered from.
#[derive(Debug)]
struct Endpoint {
    registry: Arc<MetricsRegistry>,
    data_shards: usize,
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    endpoint: Arc<Endpoint>,
    shutdown: &AtomicBool,
) {
    // Open connections, oldest first.
    let mut open: VecDeque<AbortHandle> = VecDeque::with_capacity(CONNECTIONS_MAX);
    while !shutdown.load(Ordering::SeqCst) {
        let accepted = match tokio::time::timeout(SHUTDOWN_POLL, listener.accept()).await {
            Err(_) => continue,
            Ok(Ok((stream, _))) => stream,
            Ok(Err(error)) => {
                // Out of file descriptors and the like: back off rather
                // than spin.
                tracing::warn!(%error, "admin HTTP accept failed");
                tokio::time::sleep(SHUTDOWN_POLL).await;
                continue;
            }
        };
        open.retain(|connection| !connection.is_finished());
        if open.len() >= CONNECTIONS_MAX {
            if let Some(oldest) = open.pop_front() {
                tracing::debug!("admin HTTP connection limit reached; closing the oldest");
                oldest.abort();
            }
        }
        let endpoint = Arc::clone(&endpoint);
        let task = tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let endpoint = Arc::clone(&endpoint);
                let route = Route::of(&request);
                async move { Ok::<_, Infallible>(endpoint.answer(route).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(REQUEST_HEAD_BYTES_MAX)
                .keep_alive(true)
                .serve_connection(TokioIo::new(accepted), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "admin HTTP connection ended");
            }
        });
        open.push_back(task.abort_handle());
    }
    for connection in open {
        connection.abort();
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Metrics,
    Health,
    NotFound,
    MethodNotAllowed,
}

impl Route {
    fn of(request: &Request<Incoming>) -> Self {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return Self::MethodNotAllowed;
        }
        match request.uri().path() {
            "/metrics" => Self::Metrics,
            "/health" | "/ready" => Self::Health,
            _ => Self::NotFound,
        }
    }
}

impl Endpoint {
    async fn answer(&self, route: Route) -> Response<Full<Bytes>> {
        match route {
            Route::Metrics => self.metrics().await,
            Route::Health => {
                if self.registry.is_ready(self.data_shards) {
                    text(StatusCode::OK, "ready\n")
                } else {
                    text(StatusCode::SERVICE_UNAVAILABLE, "starting or stopping\n")
                }
            }
            Route::NotFound => text(StatusCode::NOT_FOUND, "try /metrics or /health\n"),
            Route::MethodNotAllowed => text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"),
        }
    }

    /// Fresh gauges from every shard (a bounded wait, on the blocking
    /// pool), then the exposition.
    async fn metrics(&self) -> Response<Full<Bytes>> {
        let registry = Arc::clone(&self.registry);
        let scraped = tokio::task::spawn_blocking(move || {
            if !registry.refresh() {
                tracing::debug!("a shard did not refresh its gauges in time; serving older ones");
            }
            registry.encode()
        })
        .await;
        match scraped {
            Ok(Ok(body)) => {
                let mut response = Response::new(Full::new(Bytes::from(body)));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS_TEXT));
                response
            }
            Ok(Err(_)) => text(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n"),
            Err(error) => {
                tracing::warn!(%error, "metrics scrape task failed");
                text(StatusCode::INTERNAL_SERVER_ERROR, "scrape failed\n")
            }
        }
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    struct Server {
        address: SocketAddr,
        shutdown: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.shutdown.store(true, Ordering::SeqCst);
            if let Some(thread) = self.thread.take() {
                thread.join().unwrap();
            }
        }
    }

    /// A server for one data shard, which is listening (ready).
    fn server() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let registry = Arc::new(MetricsRegistry::default());
        registry.shard_listening();
        let shutdown = Arc::new(AtomicBool::new(false));
        let thread = spawn_on(listener, registry, 1, Arc::clone(&shutdown)).unwrap();
        Server {
            address,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Sends `request` on a new connection and reads the response until
    /// the server closes it (`Connection: close`).
    fn exchange(address: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    fn get(address: SocketAddr, path: &str) -> String {
        exchange(
            address,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    }

    #[test]
    fn health_answers_ready_and_metrics_the_exposition() {
        let server = server();
        let health = get(server.address, "/health");
        assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
        assert!(health.ends_with("\r\n\r\nready\n"), "{health}");
        let metrics = get(server.address, "/metrics");
        assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
        assert!(metrics.contains(OPENMETRICS_TEXT), "{metrics}");
        assert!(metrics.contains("# EOF"), "{metrics}");
    }

    #[test]
    fn a_registry_not_listening_yet_is_unavailable() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = Arc::new(AtomicBool::new(false));
        let thread = spawn_on(
            listener,
            Arc::new(MetricsRegistry::default()),
            1,
            Arc::clone(&shutdown),
        )
        .unwrap();
        let health = get(address, "/ready");
        assert!(health.starts_with("HTTP/1.1 503 "), "{health}");
        shutdown.store(true, Ordering::SeqCst);
        thread.join().unwrap();
    }

    #[test]
    fn other_paths_and_methods_are_refused() {
        let server = server();
        assert!(get(server.address, "/nope").starts_with("HTTP/1.1 404 "));
        let post = exchange(
            server.address,
            "POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        assert!(post.starts_with("HTTP/1.1 405 "), "{post}");
    }

    #[test]
    fn an_oversized_request_head_gets_431() {
        let server = server();
        let padding = "a".repeat(REQUEST_HEAD_BYTES_MAX * 2);
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!("GET /health HTTP/1.1\r\nX-Padding: {padding}\r\n\r\n");
        // The server may close before it has read everything we send.
        let _ = stream.write_all(request.as_bytes());
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    }

    #[test]
    fn keep_alive_serves_several_requests_on_one_connection() {
        let server = server();
        let mut stream = TcpStream::connect(server.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        for _ in 0..3 {
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buffer = [0u8; 512];
            let mut response = Vec::new();
            while !response.ends_with(b"ready\n") {
                let read = stream.read(&mut buffer).unwrap();
                assert!(
                    read > 0,
                    "closed after {:?}",
                    String::from_utf8_lossy(&response)
                );
                response.extend_from_slice(&buffer[..read]);
            }
            assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
        }
    }

    #[test]
    fn idle_and_half_sent_connections_past_the_limit_do_not_lock_health_out() {
        let server = server();
        let mut idle: Vec<TcpStream> = (0..CONNECTIONS_MAX + 44)
            .map(|_| TcpStream::connect(server.address).unwrap())
            .collect();
        for stream in idle.iter_mut().step_by(3) {
            stream.write_all(b"GET /health HTTP/1.1\r\nHo").unwrap();
        }
        let started = Instant::now();
        let health = get(server.address, "/health");
        assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
        // The bug this guards against made it take 5 s per idle connection.
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(idle);
    }
}
