//! A TLS connection over an async byte stream: rustls' sans-IO
//! [`ServerConnection`] driven by the socket of one client connection, or
//! its [`ClientConnection`] driven by a socket this node opened to a peer
//! (see [`crate::client_security`]).
//!
//! Invariants: bytes from the peer reach rustls only through `read_tls`,
//! whose buffers rustls bounds (a record is at most 16 KiB plus overhead, a
//! handshake message at most 64 KiB), so garbage or a plaintext Kafka client
//! costs a failed handshake and never a large allocation. Plaintext written
//! by the connection is encrypted straight from the caller's slice into
//! rustls' record buffer (the one copy TLS needs) and at most one
//! [`ServerConnection`] buffer limit (64 KiB by default) of encrypted bytes
//! is queued before the socket must take some: `poll_write` first flushes
//! what is queued.

use std::io::{self, Read, Write};
use std::ops::DerefMut;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use futures::ready;
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, ServerConfig, ServerConnection, SideData,
};
use rustls_pki_types::ServerName;

/// One TLS connection after its handshake, the server side by default.
/// Lives on: the shard serving (or that opened) the connection.
pub struct TlsStream<S, C = ServerConnection> {
    io: S,
    tls: C,
    /// The peer closed its side (TCP end of stream).
    eof: bool,
}

/// Runs the server side of a TLS handshake on `io` with `config`.
///
/// # Errors
/// The peer sent something that is not a TLS handshake this configuration
/// accepts (garbage, a plaintext Kafka request, no client certificate where
/// one is required, no common version or cipher suite) — rustls has queued
/// an alert, which is sent if the socket takes it — or the socket failed or
/// closed.
///
/// # Cancel safety
/// Dropping the future drops the connection.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    config: Arc<ServerConfig>,
) -> io::Result<TlsStream<S>> {
    let tls = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut stream = TlsStream {
        io,
        tls,
        eof: false,
    };
    futures::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
    Ok(stream)
}

/// Runs the client side of a TLS handshake on `io` with `config`, checking
/// the server's certificate for `server_name`.
///
/// # Errors
/// The server's certificate does not verify (unknown CA, wrong name,
/// expired), no common version or cipher suite, or the socket failed or
/// closed.
///
/// # Cancel safety
/// Dropping the future drops the connection.
pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
) -> io::Result<TlsStream<S, ClientConnection>> {
    let tls = ClientConnection::new(config, server_name).map_err(io::Error::other)?;
    let mut stream = TlsStream {
        io,
        tls,
        eof: false,
    };
    futures::future::poll_fn(|cx| stream.poll_handshake(cx)).await?;
    Ok(stream)
}

impl<S, C> TlsStream<S, C> {
    /// The rustls connection (negotiated version, cipher suite, peer
    /// certificates).
    pub fn connection(&self) -> &C {
        &self.tls
    }
}

impl<S, C, D> TlsStream<S, C>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_flush_tls(cx))?;
            if !self.tls.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            if !ready!(self.poll_read_tls(cx))? {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Writes every queued TLS record to the socket: ready once none is
    /// left.
    fn poll_flush_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.wants_write() {
            let mut socket = SyncSocket {
                io: &mut self.io,
                cx,
            };
            match self.tls.write_tls(&mut socket) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads what the socket has into rustls and processes it: ready with
    /// `false` at the end of the stream.
    fn poll_read_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut socket = SyncSocket {
            io: &mut self.io,
            cx,
        };
        match self.tls.read_tls(&mut socket) {
            Ok(0) => {
                self.eof = true;
                Poll::Ready(Ok(false))
            }
            Ok(_) => match self.tls.process_new_packets() {
                Ok(_) => Poll::Ready(Ok(true)),
                Err(error) => {
                    // rustls queued an alert telling the peer why: send it if
                    // the socket takes it now, the connection closes anyway.
                    if let Poll::Ready(Err(write_error)) = self.poll_flush_tls(cx) {
                        tracing::trace!(%write_error, "TLS alert not sent");
                    }
                    Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, error)))
                }
            },
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl<S, C, D> AsyncRead for TlsStream<S, C>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.tls.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
            if this.eof {
                // Closed without close_notify and nothing buffered: an end of
                // stream to the reader, which treats it as a closed peer.
                return Poll::Ready(Ok(0));
            }
            // A post-handshake message (a key update) may want an answer.
            if let Poll::Ready(Err(error)) = this.poll_flush_tls(cx) {
                return Poll::Ready(Err(error));
            }
            ready!(this.poll_read_tls(cx))?;
        }
    }
}

impl<S, C, D> AsyncWrite for TlsStream<S, C>
where
    S: AsyncRead + AsyncWrite + Unpin,
    C: DerefMut<Target = ConnectionCommon<D>> + Unpin,
    D: SideData,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // Bounded buffering: what is queued goes out before more is taken.
        ready!(this.poll_flush_tls(cx))?;
        let written = this.tls.writer().write(buf)?;
        // Start sending at once; what the socket does not take now goes out
        // with the next write or flush.
        if let Poll::Ready(Err(error)) = this.poll_flush_tls(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.tls.send_close_notify();
        ready!(this.poll_flush_tls(cx))?;
        Pin::new(&mut this.io).poll_close(cx)
    }
}

/// The socket as the blocking `Read`/`Write` rustls drives, for one poll: a
/// socket that is not ready is `WouldBlock` (its waker is registered).
struct SyncSocket<'a, 'b, S> {
    io: &'a mut S,
    cx: &'a mut Context<'b>,
}

impl<S: AsyncRead + Unpin> Read for SyncSocket<'_, '_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<S: AsyncWrite + Unpin> Write for SyncSocket<'_, '_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write_vectored(self.cx, bufs) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use futures::io::{AsyncReadExt, AsyncWriteExt};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};

    use crate::tls::tests::{settings, testdata};

    fn server_config() -> Arc<ServerConfig> {
        Arc::new(crate::tls::build_server_config(&settings()).unwrap())
    }

    fn client_config() -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(testdata("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    /// Runs `server` on a glommio executor with one accepted connection,
    /// `client` on a thread connected to it; returns the server's result.
    fn run<T: Send + 'static>(
        server: impl FnOnce(
                glommio::net::TcpStream,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>>
            + Send
            + 'static,
        client: impl FnOnce(std::net::TcpStream) + Send + 'static,
    ) -> T {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let executor = std::thread::spawn(move || {
            glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .make()
                .unwrap()
                .run(async move {
                    let listener = glommio::net::TcpListener::bind(address).unwrap();
                    ready_tx.send(()).unwrap();
                    let stream = listener.accept().await.unwrap();
                    server(stream).await
                })
        });
        ready_rx.recv().unwrap();
        let client_thread = std::thread::spawn(move || {
            client(std::net::TcpStream::connect(address).unwrap());
        });
        let result = executor.join().unwrap();
        client_thread.join().unwrap();
        result
    }

    #[test]
    fn a_tls_client_exchanges_a_request_and_a_large_response() {
        const RESPONSE_BYTES: usize = 3 * 1024 * 1024 + 17;
        let received = run(
            |stream| {
                Box::pin(async move {
                    let mut tls = accept(stream, server_config()).await.unwrap();
                    let mut request = [0u8; 11];
                    tls.read_exact(&mut request).await.unwrap();
                    // The response in two parts, as a fetch writes a header
                    // then record bytes.
                    let body: Vec<u8> = (0..RESPONSE_BYTES).map(|i| (i % 251) as u8).collect();
                    tls.write_all(&body[..5]).await.unwrap();
                    tls.write_all(&body[5..]).await.unwrap();
                    tls.flush().await.unwrap();
                    tls.close().await.unwrap();
                    request.to_vec()
                })
            },
            |socket| {
                let name = ServerName::try_from("localhost").unwrap();
                let connection = rustls::ClientConnection::new(client_config(), name).unwrap();
                let mut tls = rustls::StreamOwned::new(connection, socket);
                tls.write_all(b"hello kafka").unwrap();
                tls.flush().unwrap();
                let mut body = Vec::new();
                tls.read_to_end(&mut body).unwrap();
                assert_eq!(body.len(), RESPONSE_BYTES);
                assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
            },
        );
        assert_eq!(received, b"hello kafka");
    }

    #[test]
    fn garbage_fails_the_handshake_without_a_panic() {
        let failed = run(
            |stream| Box::pin(async move { accept(stream, server_config()).await.is_err() }),
            |mut socket| {
                let garbage: Vec<u8> = (0..70_000u32).map(|i| (i * 7919 % 256) as u8).collect();
                // The server may close before taking it all.
                drop(socket.write_all(&garbage));
                let mut rest = Vec::new();
                drop(socket.read_to_end(&mut rest));
            },
        );
        assert!(failed);
    }

    #[test]
    fn a_plaintext_api_versions_request_fails_the_handshake() {
        let failed = run(
            |stream| Box::pin(async move { accept(stream, server_config()).await.is_err() }),
            |mut socket| {
                // ApiVersions v3, correlation id 1, client id "k".
                let request: [u8; 18] = [0, 0, 0, 14, 0, 18, 0, 3, 0, 0, 0, 1, 0, 1, b'k', 0, 0, 0];
                socket.write_all(&request).unwrap();
                let mut answer = Vec::new();
                drop(socket.read_to_end(&mut answer));
                // At most a TLS alert record comes back, never a Kafka answer.
                assert!(answer.is_empty() || answer[0] == 0x15, "{answer:?}");
            },
        );
        assert!(failed);
    }
}
