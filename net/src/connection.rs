//! One client connection: reads frames, runs their requests concurrently
//! (pipelining, bounded by `connection.max.inflight.requests`), and writes
//! the responses strictly in request order, as Kafka requires.
//!
//! Bounds: a frame's size is checked before reading it and its buffer grows
//! only with received bytes; the request bytes a connection has in flight
//! never exceed `socket.request.max.bytes` (reading waits for earlier
//! requests to finish); a connection that sends nothing — or only part of a
//! frame — for `connections.max.idle.ms` is closed; at most the in-flight
//! limit of responses are held per connection. Across the shard's
//! connections, the requests read and not yet answered are bounded by the
//! shard's share of `queued.max.requests` and their bytes by its share of
//! `queued.max.request.bytes` (Kafka's bounds on its request queue and
//! request memory pool): at either limit, reading the next request waits.
//!
//! On an SSL listener the TLS handshake comes first (within
//! `connections.max.idle.ms`); a failed one closes this connection only.
//! The same loop then serves the decrypted stream. A response's parts are
//! never joined: on a plaintext socket they go out in vectored writes (one
//! `sendmsg` for a whole Fetch response when the socket takes it), into TLS
//! one part per write.
//!
//! Every request passes the connection's [`Authenticator`] first: on a
//! SASL listener nothing but ApiVersions and the SASL exchange is served
//! until it succeeds, frames are bounded by Kafka's pre-authentication
//! limit, and after a v0 SaslHandshake the raw SASL tokens are read here.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use glommio::channels::local_channel;
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use glommio::task::JoinHandle;

use bytes::{BufMut, BytesMut};
use skein_controller::KafkaPrincipal;

use crate::authenticator::{Admission, Authenticator};
use crate::dispatch::{dispatch, Outcome};
use crate::frame::{
    parse_request_header, read_frame_body_of, read_frame_size_within, FrameError,
    REQUEST_HEADER_BYTES_MIN,
};
use crate::handlers::sasl_authenticate;
use crate::listener::{ClientListener, ListenerEndpoint};
use crate::request::request_header_version;
use crate::response::{Response, ResponsePart};
use crate::response_writer::write_parts;
use crate::shard_state::ShardState;
use crate::tls_stream;

/// Serves `stream`, accepted by `listener`, until the peer closes it, a
/// frame is broken, the TLS handshake fails, or the shard stops.
pub async fn serve(ctx: Rc<ShardState>, stream: TcpStream, listener: Arc<ClientListener>) {
    let peer = stream
        .peer_addr()
        .map(|addr| addr.to_string())
        .unwrap_or_default();
    // Kafka's form of the client address in DescribeGroups: "/ip".
    let client_host: Rc<str> = stream
        .peer_addr()
        .map(|addr| format!("/{}", addr.ip()))
        .unwrap_or_default()
        .into();
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "TCP_NODELAY not set");
    }
    let fd = stream.as_raw_fd();
    let endpoint = Rc::new(listener.endpoint.clone());
    ctx.metrics.connection(true);
    let sasl = listener.sasl.clone();
    match &listener.tls {
        None => {
            let auth = Authenticator::new(sasl, KafkaPrincipal::anonymous());
            let plain = Some(fd);
            serve_stream(&ctx, stream, fd, plain, &peer, client_host, endpoint, auth).await
        }
        Some(tls) => {
            let idle = Duration::from_millis(ctx.config.connections_max_idle_ms());
            let config = tls.server_config();
            let handshake = glommio::timer::timeout(idle, async {
                Ok(tls_stream::accept(stream, config).await)
            });
            match handshake.await {
                Ok(Ok(stream)) => {
                    let tls = stream.connection();
                    tracing::debug!(
                        %peer,
                        listener = %endpoint.name,
                        version = ?tls.protocol_version(),
                        cipher_suite = ?tls.negotiated_cipher_suite().map(|s| s.suite()),
                        client_certificate = tls.peer_certificates().is_some(),
                        "TLS handshake done"
                    );
                    let principal = match listener.certificate_principal(tls.peer_certificates()) {
                        Ok(principal) => principal,
                        Err(reason) => {
                            tracing::info!(%peer, listener = %endpoint.name, %reason, "client certificate refused; connection closed");
                            ctx.metrics.failed_authentication(&endpoint.name);
                            ctx.metrics.connection(false);
                            return;
                        }
                    };
                    let auth = Authenticator::new(sasl, principal);
                    serve_stream(&ctx, stream, fd, None, &peer, client_host, endpoint, auth).await;
                }
                Ok(Err(error)) => {
                    tracing::debug!(%peer, listener = %endpoint.name, %error, "TLS handshake failed; connection closed");
                    // Kafka counts a failed TLS handshake as a failed
                    // authentication too (SslAuthenticationException), but
                    // not a peer that closed or reset before finishing it.
                    if error.kind() == std::io::ErrorKind::InvalidData {
                        ctx.metrics.failed_authentication(&endpoint.name);
                    }
                }
                Err(_) => {
                    tracing::debug!(%peer, listener = %endpoint.name, "TLS handshake timed out; connection closed");
                }
            }
        }
    }
    ctx.metrics.connection(false);
}

/// The request loop of one connection over `stream` (the socket `fd`, or
/// TLS over it). `plain` is `Some(fd)` when `stream` is the socket itself:
/// frame bodies are then received straight into their buffers.
#[allow(clippy::too_many_arguments)]
async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin + 'static>(
    ctx: &Rc<ShardState>,
    stream: S,
    fd: RawFd,
    plain: Option<RawFd>,
    peer: &str,
    client_host: Rc<str>,
    endpoint: Rc<ListenerEndpoint>,
    auth: Authenticator,
) {
    let auth = Rc::new(RefCell::new(auth));
    // Reading and writing run as two tasks; `split` shares the stream between
    // them (an uncontended lock: both halves live on this one thread).
    let (mut reader, mut writer) = stream.split();
    let max_inflight = ctx.config.connection_max_inflight_requests();
    let (queue, pending) = local_channel::new_bounded::<JoinHandle<Outcome>>(max_inflight);
    let writer_task = glommio::spawn_local(async move {
        while let Some(handle) = pending.recv().await {
            let outcome = match handle.await {
                Some(outcome) => outcome,
                None => Outcome::Close("request task cancelled".into()),
            };
            match outcome {
                Outcome::Respond(response) => {
                    if write_parts(&mut writer, &response.parts).await.is_err() {
                        shut_down(fd);
                        return;
                    }
                    // TLS holds the last record until flushed (a socket
                    // has nothing to flush).
                    if writer.flush().await.is_err() {
                        shut_down(fd);
                        return;
                    }
                }
                Outcome::Silent => {}
                Outcome::RespondThenClose(response, reason) => {
                    if let Err(error) = write_parts(&mut writer, &response.parts).await {
                        tracing::debug!(%error, "response before closing not written");
                    }
                    if let Err(error) = writer.flush().await {
                        tracing::debug!(%error, "flush before closing failed");
                    }
                    tracing::debug!(%reason, "closing connection");
                    shut_down(fd);
                    return;
                }
                Outcome::Close(reason) => {
                    tracing::debug!(%reason, "closing connection");
                    shut_down(fd);
                    return;
                }
            }
        }
    });
    let max_frame = ctx.config.socket_request_max_bytes();
    let idle = Duration::from_millis(ctx.config.connections_max_idle_ms());
    // Request bytes in flight on this connection, at most one maximal frame.
    let request_bytes = Rc::new(Semaphore::new(max_frame as u64));
    loop {
        if ctx.is_stopping() {
            break;
        }
        // Before authentication frames are bounded by Kafka's SASL limit,
        // and after a v0 handshake they are raw tokens, not requests.
        let (frame_max, raw_token) = {
            let auth = auth.borrow();
            (auth.frame_bytes_max(max_frame), auth.expects_raw_token())
        };
        let frame_min = if raw_token {
            0
        } else {
            REQUEST_HEADER_BYTES_MIN
        };
        let frame = match glommio::timer::timeout(idle, async {
            let size = match read_frame_size_within(&mut reader, frame_min, frame_max).await {
                Ok(size) => size,
                Err(error) => return Ok(Err(error)),
            };
            let Ok(permit) = request_bytes.acquire_static_permit(size as u64).await else {
                return Ok(Err(FrameError::Closed));
            };
            // The shard-wide bounds, taken once a request is arriving (an
            // idle connection holds none).
            let Ok(slot) = ctx.request_slots.acquire_static_permit(1).await else {
                return Ok(Err(FrameError::Closed));
            };
            let memory = match &ctx.request_memory {
                Some(pool) => match pool.acquire_static_permit(size as u64).await {
                    Ok(permit) => Some(permit),
                    Err(_) => return Ok(Err(FrameError::Closed)),
                },
                None => None,
            };
            let body = read_frame_body_of(&mut reader, plain, size).await;
            Ok(body.map(|body| (body, (permit, slot, memory))))
        })
        .await
        {
            Ok(Ok(frame)) => frame,
            Ok(Err(FrameError::Closed)) => break,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "broken frame; closing connection");
                break;
            }
            Err(_) => {
                tracing::debug!(%peer, "idle connection closed");
                break;
            }
        };
        let (frame, permit) = frame;
        if raw_token {
            // Checked here, before the next frame is read: the token moves
            // the exchange on (or ends it).
            let reply = sasl_authenticate::token(ctx, &auth, &endpoint.name, &frame);
            let delay = ctx.config.connection_failed_authentication_delay_ms();
            let handle = glommio::spawn_local(async move {
                drop(permit);
                match reply {
                    Ok(reply) => Outcome::Respond(raw_token_frame(&reply.token)),
                    Err(error) => {
                        glommio::timer::sleep(Duration::from_millis(delay)).await;
                        Outcome::Close(error.to_string())
                    }
                }
            })
            .detach();
            if queue.send(handle).await.is_err() {
                break;
            }
            continue;
        }
        let (header, _, body) = match parse_request_header(frame, request_header_version) {
            Ok(parsed) => parsed,
            Err(error) => {
                tracing::debug!(%peer, %error, "bad request header; closing connection");
                break;
            }
        };
        if let Admission::Close(reason) = auth
            .borrow()
            .admit(header.api_key, std::time::Instant::now())
        {
            tracing::debug!(%peer, %reason, "request refused; closing connection");
            break;
        }
        let request_auth = Rc::clone(&auth);
        let request_ctx = Rc::clone(ctx);
        let request_host = Rc::clone(&client_host);
        let request_listener = Rc::clone(&endpoint);
        ctx.in_flight_requests.set(ctx.in_flight_requests.get() + 1);
        let handle = glommio::spawn_local(async move {
            let started = std::time::Instant::now();
            let api_key = header.api_key;
            let outcome = dispatch(
                &request_ctx,
                header,
                body,
                &request_host,
                &request_listener,
                &request_auth,
                started,
            )
            .await;
            let failed = matches!(outcome, Outcome::Close(_));
            request_ctx
                .metrics
                .record_request(api_key, started.elapsed(), failed);
            drop(permit);
            request_ctx
                .in_flight_requests
                .set(request_ctx.in_flight_requests.get() - 1);
            outcome
        })
        .detach();
        if queue.send(handle).await.is_err() {
            break;
        }
    }
    drop(queue);
    writer_task.await;
}

/// A raw SASL token as the server sends it after a v0 handshake: size
/// prefix and bytes, no Kafka header.
fn raw_token_frame(token: &[u8]) -> Response {
    let mut frame = BytesMut::with_capacity(4 + token.len());
    // A server token is at most a SCRAM server-first message: tiny.
    frame.put_u32(u32::try_from(token.len()).unwrap_or(0));
    frame.extend_from_slice(token);
    Response {
        parts: vec![ResponsePart::Encoded(frame.freeze())],
    }
}

/// Shuts both directions of the connection down: the peer sees it closed at
/// once, and this connection's reader, blocked in a read, wakes with end of
/// stream. The descriptor itself is closed when both halves are dropped.
fn shut_down(fd: RawFd) {
    // SAFETY: `fd` is the socket of a stream whose halves are still alive
    // (the caller holds one), so it is open and ours; shutdown(2) does not
    // free it.
    let status = unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
    if status != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "shutdown failed");
    }
}
