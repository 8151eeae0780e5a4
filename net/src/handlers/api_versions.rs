//! ApiVersions: built from the one table of served APIs.

use kafka_protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};

use crate::error_code::ErrorCode;
use crate::supported_apis::SUPPORTED_APIS;

/// The response listing every served API, with `error`.
pub fn response(error: ErrorCode) -> ApiVersionsResponse {
    let api_keys = SUPPORTED_APIS
        .iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.api_key as i16)
                .with_min_version(api.min_version)
                .with_max_version(api.max_version)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error.code())
        .with_api_keys(api_keys)
}
