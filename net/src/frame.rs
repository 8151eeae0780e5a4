//! Frames and request headers: everything read off a socket before the
//! `kafka-protocol` decoders see a byte.
//!
//! A frame is `size: i32` + `size` bytes. The size is checked against
//! `socket.request.max.bytes` (and against the smallest possible header)
//! before anything is allocated. The body buffer reserves at most
//! [`BODY_RESERVE_BYTES_MAX`] up front and past that grows (doubling) only
//! with bytes that actually arrived, so a peer that claims 100 MiB and sends
//! 10 bytes costs at most 1 MiB of address space and a few pages of memory
//! (reserved capacity is not touched until bytes land in it). A whole
//! produce request of up to 1 MiB is read into one allocation, never
//! re-allocated (and so never copied) while it arrives.
//!
//! From a plain socket the body is received straight into the buffer's
//! uninitialised capacity ([`read_frame_body_from_socket`]): `recv(2)`
//! writes through a raw pointer and only the bytes it reports written are
//! marked initialised, so nothing is zero-filled first and no uninitialised
//! byte is ever readable. Other streams (TLS) are read through `AsyncRead`
//! into zero-filled windows.
//!
//! The header (api key, version, correlation id, client id, tagged fields)
//! is parsed here by hand, with every length checked.

use std::os::fd::RawFd;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncReadExt};

/// Smallest request header: api key (2) + version (2) + correlation id (4) +
/// client id length (2).
pub const REQUEST_HEADER_BYTES_MIN: usize = 10;

/// How much is read from a stream at a time while a body is incomplete
/// (the `AsyncRead` path, whose windows are zero-filled first).
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The most a body buffer reserves before its bytes arrive: a produce
/// request as librdkafka sends it (`message.max.bytes` = 1 000 000) fits,
/// so it is received into one allocation with no re-allocation copy.
pub const BODY_RESERVE_BYTES_MAX: usize = 1 << 20;

/// Why a frame could not be read. Every variant closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The size prefix is negative, too small for a header, or above the
    /// limit.
    #[error("frame size {size} outside [{REQUEST_HEADER_BYTES_MIN}, {max}]")]
    BadSize { size: i32, max: usize },
    /// The connection ended inside a frame.
    #[error("connection closed inside a frame")]
    Truncated,
    /// Reading from the socket failed.
    #[error("socket read failed")]
    Io(#[from] std::io::Error),
    /// The header is malformed.
    #[error("malformed request header: {0}")]
    BadHeader(&'static str),
}

/// Reads one whole frame body (without its size prefix).
///
/// # Errors
/// [`FrameError::Closed`] at a clean end of stream; any other variant for a
/// frame that must close the connection.
///
/// # Cancel safety
/// Not cancel safe: a partly read frame is lost.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
) -> Result<Bytes, FrameError> {
    let size = read_frame_size(reader, max_bytes).await?;
    read_frame_body(reader, size).await
}

/// Reads a frame's size prefix and checks it against
/// [`REQUEST_HEADER_BYTES_MIN`] and `max_bytes` before anything is
/// allocated for the body.
///
/// # Errors
/// As [`read_frame`].
///
/// # Cancel safety
/// Not cancel safe.
pub async fn read_frame_size<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
) -> Result<usize, FrameError> {
    read_frame_size_within(reader, REQUEST_HEADER_BYTES_MIN, max_bytes).await
}

/// Reads a frame's size prefix and checks it is within
/// `min_bytes..=max_bytes`: as [`read_frame_size`], for frames that are
/// not requests (a raw SASL token may be shorter than a request header).
///
/// # Errors
/// As [`read_frame`].
///
/// # Cancel safety
/// Not cancel safe.
pub async fn read_frame_size_within<R: AsyncRead + Unpin>(
    reader: &mut R,
    min_bytes: usize,
    max_bytes: usize,
) -> Result<usize, FrameError> {
    let mut size_bytes = [0u8; 4];
    let mut filled = 0;
    while filled < size_bytes.len() {
        let window = size_bytes.get_mut(filled..).ok_or(FrameError::Truncated)?;
        let n = reader.read(window).await?;
        if n == 0 {
            return Err(if filled == 0 {
                FrameError::Closed
            } else {
                FrameError::Truncated
            });
        }
        filled += n;
    }
    let size = i32::from_be_bytes(size_bytes);
    let bad_size = FrameError::BadSize {
        size,
        max: max_bytes,
    };
    match usize::try_from(size) {
        Ok(size) if (min_bytes..=max_bytes).contains(&size) => Ok(size),
        _ => Err(bad_size),
    }
}

/// Reads a frame body of `size` bytes (already checked), growing the buffer
/// only as bytes arrive.
///
/// # Errors
/// [`FrameError::Truncated`] if the connection ends first; IO errors.
///
/// # Cancel safety
/// Not cancel safe.
pub async fn read_frame_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    size: usize,
) -> Result<Bytes, FrameError> {
    let mut body = BytesMut::with_capacity(size.min(BODY_RESERVE_BYTES_MAX));
    while body.len() < size {
        grow_for_arrivals(&mut body, size);
        let want = (size - body.len()).min(READ_CHUNK_BYTES);
        let start = body.len();
        body.resize(start + want, 0);
        let window = body.get_mut(start..).ok_or(FrameError::Truncated)?;
        let n = reader.read(window).await?;
        body.truncate(start + n);
        if n == 0 {
            return Err(FrameError::Truncated);
        }
    }
    Ok(body.freeze())
}

/// Reads a frame body of `size` bytes from `reader`: with
/// [`read_frame_body_from_socket`] when `plain_socket` is the socket
/// `reader` reads (no TLS over it), else with [`read_frame_body`].
///
/// # Errors
/// As [`read_frame_body`].
///
/// # Cancel safety
/// Not cancel safe.
pub async fn read_frame_body_of<R: AsyncRead + Unpin>(
    reader: &mut R,
    plain_socket: Option<RawFd>,
    size: usize,
) -> Result<Bytes, FrameError> {
    match plain_socket {
        Some(socket) => read_frame_body_from_socket(reader, socket, size).await,
        None => read_frame_body(reader, size).await,
    }
}

/// [`read_frame_body`] for a stream that is the plain socket `fd` itself
/// (no TLS over it): the body is received with `recv(2)` straight into the
/// buffer's uninitialised capacity, not zero-filled first. `reader` (the
/// same socket) is used only to wait until bytes arrive.
///
/// # Errors
/// As [`read_frame_body`].
///
/// # Cancel safety
/// Not cancel safe.
pub async fn read_frame_body_from_socket<R: AsyncRead + Unpin>(
    reader: &mut R,
    fd: RawFd,
    size: usize,
) -> Result<Bytes, FrameError> {
    let mut body = BytesMut::with_capacity(size.min(BODY_RESERVE_BYTES_MAX));
    while body.len() < size {
        grow_for_arrivals(&mut body, size);
        let want = size - body.len();
        match recv_into_spare(fd, &mut body, want) {
            Some(Ok(0)) => return Err(FrameError::Truncated),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(FrameError::Io(error)),
            None => {
                // Nothing to receive: wait for the next byte through the
                // reactor (a one-byte read that parks until the socket is
                // readable), then receive whatever followed it directly.
                let mut first = [0u8; 1];
                if reader.read(&mut first).await? == 0 {
                    return Err(FrameError::Truncated);
                }
                body.put_slice(&first);
            }
        }
    }
    Ok(body.freeze())
}

/// Makes room in `body` for more of a `size`-byte frame once its capacity
/// is used up: double what has arrived (at least [`READ_CHUNK_BYTES`]),
/// never past `size`.
fn grow_for_arrivals(body: &mut BytesMut, size: usize) {
    debug_assert!(body.len() < size);
    if body.capacity() == body.len() {
        let more = body.len().max(READ_CHUNK_BYTES).min(size - body.len());
        body.reserve(more);
    }
}

/// Receives at most `want` bytes from socket `fd` into `body`'s spare
/// capacity without waiting, and marks exactly the received bytes as part
/// of `body`. `None` when nothing is there to receive yet; `Some(Ok(0))` at
/// the end of the stream.
fn recv_into_spare(fd: RawFd, body: &mut BytesMut, want: usize) -> Option<std::io::Result<usize>> {
    let spare = body.spare_capacity_mut();
    let room = want.min(spare.len());
    debug_assert!(room > 0);
    loop {
        // SAFETY: `spare` is `room` (or more) bytes of memory owned by
        // `body` and borrowed mutably here; recv(2) writes at most `room`
        // bytes into it through the raw pointer (no reference to
        // uninitialised bytes is created) and reads none of them.
        let received = unsafe {
            libc::recv(
                fd,
                spare.as_mut_ptr().cast::<libc::c_void>(),
                room,
                libc::MSG_DONTWAIT,
            )
        };
        let Ok(received) = usize::try_from(received) else {
            let error = std::io::Error::last_os_error();
            return match error.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => None,
                _ => Some(Err(error)),
            };
        };
        // The kernel never reports more than it was given room for.
        if received > room {
            return Some(Err(std::io::Error::other(
                "recv reported more bytes than asked",
            )));
        }
        let filled = body.len() + received;
        // SAFETY: recv(2) initialised the first `received` bytes of the
        // spare capacity, i.e. `body[len..filled]`, and `filled` is within
        // the capacity (`received <= room <= spare.len()`).
        unsafe { body.set_len(filled) };
        return Some(Ok(received));
    }
}

/// A request header as sent by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// The API key (may be one we do not know).
    pub api_key: i16,
    /// The requested version of that API.
    pub api_version: i16,
    /// Echoed in the response.
    pub correlation_id: i32,
    /// The client's self-declared id, if any (lossily decoded for logging).
    pub client_id: Option<String>,
}

/// Parses the fixed part of a request header (v1 layout, shared by v0–v2 up
/// to the client id) and, for header v2, skips its tagged fields. Returns the
/// header and the remaining bytes (the body).
///
/// `header_version` is decided by the caller from the api key and version.
///
/// # Errors
/// [`FrameError::BadHeader`] if the bytes are shorter than they claim.
pub fn parse_request_header(
    mut frame: Bytes,
    header_version_of: impl Fn(i16, i16) -> Option<i16>,
) -> Result<(RequestHeader, Option<i16>, Bytes), FrameError> {
    if frame.len() < 8 {
        return Err(FrameError::BadHeader("shorter than the fixed fields"));
    }
    let api_key = frame.get_i16();
    let api_version = frame.get_i16();
    let correlation_id = frame.get_i32();
    let header_version = header_version_of(api_key, api_version);
    let mut client_id = None;
    if header_version.unwrap_or(1) >= 1 {
        if frame.len() < 2 {
            return Err(FrameError::BadHeader("no client id length"));
        }
        let len = frame.get_i16();
        if len >= 0 {
            let len = len as usize;
            if frame.len() < len {
                return Err(FrameError::BadHeader("client id longer than the frame"));
            }
            let id = frame.split_to(len);
            client_id = Some(String::from_utf8_lossy(&id).into_owned());
        } else if len != -1 {
            return Err(FrameError::BadHeader("negative client id length"));
        }
    }
    if header_version == Some(2) {
        skip_tagged_fields(&mut frame)?;
    }
    let header = RequestHeader {
        api_key,
        api_version,
        correlation_id,
        client_id,
    };
    Ok((header, header_version, frame))
}

/// Skips a tagged-field section: a count, then per field a tag, a size and
/// that many bytes (all unsigned varints).
fn skip_tagged_fields(frame: &mut Bytes) -> Result<(), FrameError> {
    let count = read_unsigned_varint(frame)?;
    for _ in 0..count {
        let _tag = read_unsigned_varint(frame)?;
        let size = read_unsigned_varint(frame)? as usize;
        if frame.len() < size {
            return Err(FrameError::BadHeader("tagged field longer than the frame"));
        }
        frame.advance(size);
    }
    Ok(())
}

/// Reads an unsigned varint of at most 5 bytes (a u32).
fn read_unsigned_varint(frame: &mut Bytes) -> Result<u32, FrameError> {
    let mut value: u32 = 0;
    for shift in (0..35).step_by(7) {
        if frame.is_empty() {
            return Err(FrameError::BadHeader("varint cut short"));
        }
        let byte = frame.get_u8();
        value |= u32::from(byte & 0x7f)
            .checked_shl(shift)
            .ok_or(FrameError::BadHeader("varint too long"))?;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(FrameError::BadHeader("varint too long"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn v1(api_key: i16, version: i16) -> Option<i16> {
        let _ = (api_key, version);
        Some(1)
    }

    #[test]
    fn frame_sizes_outside_the_limits_are_refused_before_reading() {
        for size in [-1i32, 0, 3, 9, 1001] {
            let mut input = size.to_be_bytes().to_vec();
            input.extend_from_slice(&[0; 16]);
            let result = block_on(read_frame(&mut input.as_slice(), 1000));
            assert!(matches!(result, Err(FrameError::BadSize { .. })), "{size}");
        }
    }

    #[test]
    fn truncated_frames_are_reported() {
        let mut input = 100i32.to_be_bytes().to_vec();
        input.extend_from_slice(&[1; 20]);
        let result = block_on(read_frame(&mut input.as_slice(), 1000));
        assert!(matches!(result, Err(FrameError::Truncated)));
        let result = block_on(read_frame(&mut [0u8, 0].as_slice(), 1000));
        assert!(matches!(result, Err(FrameError::Truncated)));
        let result = block_on(read_frame(&mut [].as_slice(), 1000));
        assert!(matches!(result, Err(FrameError::Closed)));
    }

    #[test]
    fn whole_frames_are_returned() {
        let mut input = 12i32.to_be_bytes().to_vec();
        input.extend_from_slice(&[7; 12]);
        input.extend_from_slice(&[9; 3]);
        let frame = block_on(read_frame(&mut input.as_slice(), 1000)).unwrap();
        assert_eq!(&frame[..], &[7; 12]);
    }

    /// A connected pair of blocking Unix stream sockets (recv(2) works on
    /// them as on TCP).
    fn socket_pair() -> (
        std::os::unix::net::UnixStream,
        std::os::unix::net::UnixStream,
    ) {
        std::os::unix::net::UnixStream::pair().unwrap()
    }

    #[test]
    fn socket_bodies_are_received_whole_across_many_sends() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let (mut sender, receiver) = socket_pair();
        // Larger than the up-front reservation, so the buffer also grows.
        let size = BODY_RESERVE_BYTES_MAX * 2 + 12_345;
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let expected = body.clone();
        let writer = std::thread::spawn(move || {
            for chunk in body.chunks(70_001) {
                sender.write_all(chunk).unwrap();
            }
            sender.write_all(&[42; 3]).unwrap();
        });
        let fd = receiver.as_raw_fd();
        let mut reader = futures::io::AllowStdIo::new(&receiver);
        let frame = block_on(read_frame_body_from_socket(&mut reader, fd, size)).unwrap();
        writer.join().unwrap();
        assert_eq!(frame.len(), size);
        assert!(frame[..] == expected[..]);
        // Nothing past the frame was taken from the socket.
        let mut rest = [0u8; 8];
        let n = block_on(reader.read(&mut rest)).unwrap();
        assert_eq!(&rest[..n], &[42; 3]);
    }

    #[test]
    fn socket_bodies_cut_short_are_truncated() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let (mut sender, receiver) = socket_pair();
        sender.write_all(&[1; 20]).unwrap();
        drop(sender);
        let fd = receiver.as_raw_fd();
        let mut reader = futures::io::AllowStdIo::new(&receiver);
        let result = block_on(read_frame_body_from_socket(&mut reader, fd, 100));
        assert!(matches!(result, Err(FrameError::Truncated)));
    }

    #[test]
    fn a_claimed_size_reserves_at_most_the_reservation_limit() {
        let mut body = BytesMut::with_capacity(100usize.min(BODY_RESERVE_BYTES_MAX));
        grow_for_arrivals(&mut body, 100);
        assert!(body.capacity() >= 100);
        let claimed = 100 << 20;
        let mut body = BytesMut::with_capacity(claimed.min(BODY_RESERVE_BYTES_MAX));
        assert!(body.capacity() < claimed);
        body.resize(body.capacity(), 0);
        let arrived = body.len();
        grow_for_arrivals(&mut body, claimed);
        // Grows by what arrived (doubling), not to the claimed size.
        assert!(body.capacity() >= 2 * arrived);
        assert!(body.capacity() < claimed);
    }

    #[test]
    fn headers_parse_with_client_id_and_tagged_fields() {
        let mut frame = vec![0, 3, 0, 12, 0, 0, 0, 42, 0, 2, b'k', b'c'];
        frame.extend_from_slice(&[1, 5, 2, 0xaa, 0xbb]); // one tagged field
        frame.extend_from_slice(&[0xde, 0xad]);
        let (header, version, body) =
            parse_request_header(Bytes::from(frame), |_, _| Some(2)).unwrap();
        assert_eq!(header.api_key, 3);
        assert_eq!(header.api_version, 12);
        assert_eq!(header.correlation_id, 42);
        assert_eq!(header.client_id.as_deref(), Some("kc"));
        assert_eq!(version, Some(2));
        assert_eq!(&body[..], &[0xde, 0xad]);
    }

    #[test]
    fn lying_header_lengths_are_refused() {
        let short = Bytes::from_static(&[0, 3, 0, 1, 0]);
        assert!(parse_request_header(short, v1).is_err());
        let long_client = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, b'a']);
        assert!(parse_request_header(long_client, v1).is_err());
        let bad_tags = Bytes::from_static(&[0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0x05, 0x01]);
        assert!(parse_request_header(bad_tags, |_, _| Some(2)).is_err());
        let endless_varint = Bytes::from_static(&[
            0, 3, 0, 12, 0, 0, 0, 1, 0xff, 0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
        ]);
        assert!(parse_request_header(endless_varint, |_, _| Some(2)).is_err());
    }
}
