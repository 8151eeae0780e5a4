//! The API versions both sides speak, negotiated once per connection from
//! the broker's ApiVersions response. Invariant: a version picked here is
//! inside the broker's advertised range, the crate's range and this
//! client's own cap.
use std::collections::BTreeMap;

use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Request;

use super::ClientError;

/// Highest version of each API this client uses, where it is lower than the
/// crate's maximum. Produce v13 and Fetch v13 address topics by id only;
/// this client addresses them by name, so it stays below.
fn client_version_max(api: ApiKey) -> i16 {
    match api {
        ApiKey::Produce => 12,
        ApiKey::Fetch => 12,
        ApiKey::ApiVersions => 3,
        _ => i16::MAX,
    }
}

/// The broker's advertised version range per API key.
#[derive(Debug, Clone, Default)]
pub struct ApiVersionTable {
    ranges: BTreeMap<i16, (i16, i16)>,
}

impl ApiVersionTable {
    /// Builds a table from `(api_key, min_version, max_version)` triples as
    /// the ApiVersions response lists them.
    pub fn from_ranges(ranges: impl IntoIterator<Item = (i16, i16, i16)>) -> Self {
        Self {
            ranges: ranges
                .into_iter()
                .map(|(key, min, max)| (key, (min, max)))
                .collect(),
        }
    }

    /// The broker's `(min, max)` for `api`, if it advertises it at all.
    pub fn broker_range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.ranges.get(&(api as i16)).copied()
    }

    /// The highest version of `R` that the broker, the crate and this client
    /// all speak.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedApi`] when the ranges do not overlap or the
    /// broker does not advertise the API.
    pub fn pick<R: Request>(&self) -> Result<i16, ClientError> {
        let api = api_key_of::<R>();
        let client_min = R::VERSIONS.min;
        let client_max = R::VERSIONS.max.min(client_version_max(api));
        let unsupported = ClientError::UnsupportedApi {
            api,
            client_min,
            client_max,
        };
        let (broker_min, broker_max) = self.broker_range(api).ok_or(unsupported)?;
        let version = client_max.min(broker_max);
        if version < client_min.max(broker_min) {
            return Err(ClientError::UnsupportedApi {
                api,
                client_min,
                client_max,
            });
        }
        Ok(version)
    }
}

/// The `ApiKey` of a request type.
pub(super) fn api_key_of<R: Request>() -> ApiKey {
    // Every request type the crate generates has a key ApiKey knows.
    ApiKey::try_from(R::KEY).expect("kafka-protocol request types have known API keys")
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{FetchRequest, MetadataRequest, ProduceRequest};

    #[test]
    fn pick_takes_the_highest_common_version_below_the_client_cap() {
        let table = ApiVersionTable::from_ranges([(0, 3, 13), (1, 4, 17), (3, 0, 5)]);
        assert_eq!(table.pick::<ProduceRequest>().unwrap(), 12);
        assert_eq!(table.pick::<FetchRequest>().unwrap(), 12);
        assert_eq!(table.pick::<MetadataRequest>().unwrap(), 5);
    }

    #[test]
    fn pick_fails_when_the_broker_lacks_the_api() {
        let table = ApiVersionTable::from_ranges([(0, 3, 9)]);
        assert!(matches!(
            table.pick::<FetchRequest>(),
            Err(ClientError::UnsupportedApi { .. })
        ));
    }

    #[test]
    fn pick_fails_when_ranges_do_not_overlap() {
        let table = ApiVersionTable::from_ranges([(0, 0, 2)]);
        assert!(table.pick::<ProduceRequest>().is_err());
    }
}
