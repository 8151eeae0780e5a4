//! The admin HTTP listener: `GET /metrics` (Prometheus text format) and
//! `GET /health` (200 `ready` once every data shard has recovered its logs
//! and listens, 503 before and while stopping). It runs on a plain thread,
//! off the shards' cores' reactors, and reads only what shards publish
//! ([`MetricsRegistry`]); one request per connection, bounded reads.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::MetricsRegistry;

/// Largest request head read, in bytes.
const REQUEST_HEAD_BYTES_MAX: usize = 8 << 10;
/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the accept loop looks at the shutdown flag.
const ACCEPT_POLL: Duration = Duration::from_millis(100);

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
    listener.set_nonblocking(true)?;
    tracing::info!(admin_listen = %address, "admin HTTP listener up (/metrics, /health)");
    std::thread::Builder::new()
        .name("skein-admin-http".to_owned())
        .spawn(move || {
            while !shutdown.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(error) = serve(stream, &registry, data_shards) {
                            tracing::debug!(%error, "admin HTTP request failed");
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(ACCEPT_POLL);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "admin HTTP accept failed");
                        std::thread::sleep(ACCEPT_POLL);
                    }
                }
            }
        })
}

fn serve(
    mut stream: TcpStream,
    registry: &MetricsRegistry,
    data_shards: usize,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(buffer.get(..read).unwrap_or_default());
        if head.len() > REQUEST_HEAD_BYTES_MAX {
            return respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or_default();
    let path = words.next().unwrap_or_default();
    let path = path.split('?').next().unwrap_or_default();
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n",
        );
    }
    match path {
        "/metrics" => match scrape(registry) {
            Ok(body) => respond(
                &mut stream,
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                &body,
            ),
            Err(_) => respond(
                &mut stream,
                "500 Internal Server Error",
                "text/plain",
                "encoding failed\n",
            ),
        },
        "/health" | "/ready" => {
            if registry.is_ready(data_shards) {
                respond(&mut stream, "200 OK", "text/plain", "ready\n")
            } else {
                respond(
                    &mut stream,
                    "503 Service Unavailable",
                    "text/plain",
                    "starting or stopping\n",
                )
            }
        }
        _ => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "try /metrics or /health\n",
        ),
    }
}

/// Fresh gauges from every shard (bounded wait), then the exposition.
fn scrape(registry: &MetricsRegistry) -> Result<String, std::fmt::Error> {
    if !registry.refresh() {
        tracing::debug!("a shard did not refresh its gauges in time; serving older ones");
    }
    registry.encode()
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}
