//! A response on its way to the socket: a list of parts, each either bytes
//! encoded here or a chunk of record batches still in the log's buffers, so
//! fetched records are written to the socket straight from where they lie.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader};
use kafka_protocol::protocol::Encodable;
use skein_engine::LogChunk;

use crate::frame::RequestHeader;

/// One piece of a response frame.
pub enum ResponsePart {
    /// Bytes encoded for this response.
    Encoded(Bytes),
    /// Record batches, written as they are.
    Records(LogChunk),
}

impl ResponsePart {
    /// The bytes of this part.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ResponsePart::Encoded(bytes) => bytes,
            ResponsePart::Records(chunk) => chunk.as_slice(),
        }
    }
}

impl AsRef<[u8]> for ResponsePart {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// A whole response frame, size prefix included in the first part.
pub struct Response {
    /// The parts, in wire order.
    pub parts: Vec<ResponsePart>,
}

/// A response that could not be encoded: a bug of ours (a field set that the
/// version cannot carry). The connection is closed.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode the {api_key:?} v{version} response: {reason}")]
pub struct EncodeError {
    /// The API.
    pub api_key: ApiKey,
    /// The version.
    pub version: i16,
    /// What the encoder said.
    pub reason: String,
}

/// Encodes `message` as the response to `header`, whose api key is `api_key`.
///
/// # Errors
/// [`EncodeError`] if the message cannot be encoded at that version.
pub fn encode_response<M: Encodable>(
    header: &RequestHeader,
    api_key: ApiKey,
    message: &M,
) -> Result<Response, EncodeError> {
    let version = header.api_version;
    let fail = |error: anyhow::Error| EncodeError {
        api_key,
        version,
        reason: error.to_string(),
    };
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    write_response_header(&mut buf, header, api_key).map_err(fail)?;
    message.encode(&mut buf, version).map_err(fail)?;
    patch_size(&mut buf);
    Ok(Response {
        parts: vec![ResponsePart::Encoded(buf.freeze())],
    })
}

/// Writes the response header for `header` at `buf`'s end.
pub fn write_response_header(
    buf: &mut BytesMut,
    header: &RequestHeader,
    api_key: ApiKey,
) -> anyhow::Result<()> {
    let header_version = api_key.response_header_version(header.api_version);
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(buf, header_version)
}

/// Sets the leading size field of a single-part frame to its length.
fn patch_size(buf: &mut BytesMut) {
    let size = (buf.len() - 4) as i32;
    if let Some(prefix) = buf.get_mut(0..4) {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
}
