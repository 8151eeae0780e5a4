//! Turning a Kafka error code found in a response into a [`ClientError`]:
//! 0 is success, anything else names the API, what it applies to and the
//! broker's message.
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;

use super::ClientError;

/// `Ok(())` for code 0, else [`ClientError::Kafka`] with `context` (a topic,
/// partition or group) and the broker's `message`.
///
/// # Errors
/// [`ClientError::Kafka`] for any non-zero `code`.
pub fn check_error_code(
    api: ApiKey,
    code: i16,
    context: &str,
    message: Option<&StrBytes>,
) -> Result<(), ClientError> {
    if code == 0 {
        return Ok(());
    }
    Err(ClientError::Kafka {
        api,
        code,
        context: (!context.is_empty()).then(|| context.to_owned()),
        message: message
            .map(|text| text.as_str().to_owned())
            .filter(|text| !text.is_empty()),
    })
}
