//! The one table of APIs and versions Skein implements. ApiVersions is built
//! from it and dispatch refuses anything outside it, so what is advertised is
//! exactly what is served.

use kafka_protocol::messages::ApiKey;

/// One implemented API and its version range (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedApi {
    /// The API.
    pub api_key: ApiKey,
    /// Lowest version served.
    pub min_version: i16,
    /// Highest version served.
    pub max_version: i16,
}

const fn api(api_key: ApiKey, min_version: i16, max_version: i16) -> SupportedApi {
    SupportedApi {
        api_key,
        min_version,
        max_version,
    }
}

/// Every API Skein serves. Produce and Fetch start at the first versions of
/// the v2 record format (3 and 4); the upper bounds are the highest versions
/// the `kafka-protocol` crate encodes.
pub const SUPPORTED_APIS: &[SupportedApi] = &[
    api(ApiKey::Produce, 3, 13),
    api(ApiKey::Fetch, 4, 18),
    api(ApiKey::ListOffsets, 1, 10),
    api(ApiKey::Metadata, 0, 13),
    api(ApiKey::ApiVersions, 0, 4),
    api(ApiKey::CreateTopics, 2, 7),
    api(ApiKey::DeleteTopics, 1, 6),
    api(ApiKey::DeleteRecords, 0, 2),
    api(ApiKey::OffsetForLeaderEpoch, 2, 4),
    api(ApiKey::DescribeConfigs, 1, 4),
    api(ApiKey::AlterConfigs, 0, 2),
    api(ApiKey::CreatePartitions, 0, 3),
    api(ApiKey::IncrementalAlterConfigs, 0, 1),
    api(ApiKey::DescribeCluster, 0, 2),
    api(ApiKey::DescribeLogDirs, 1, 4),
    api(ApiKey::AlterReplicaLogDirs, 1, 2),
    api(ApiKey::DescribeProducers, 0, 0),
    // Inter-broker, from a transaction coordinator (v1: flexible).
    api(ApiKey::WriteTxnMarkers, 1, 1),
    api(ApiKey::FindCoordinator, 0, 6),
    api(ApiKey::JoinGroup, 0, 9),
    api(ApiKey::SyncGroup, 0, 5),
    api(ApiKey::Heartbeat, 0, 4),
    api(ApiKey::LeaveGroup, 0, 5),
    // v0–v1 are restored in the vendored codec (Kafka 4 dropped them; sarama
    // 1.22 commits with v1 by default).
    api(ApiKey::OffsetCommit, 0, 9),
    api(ApiKey::OffsetFetch, 1, 9),
    api(ApiKey::DescribeGroups, 0, 6),
    api(ApiKey::ListGroups, 0, 5),
    api(ApiKey::DeleteGroups, 0, 2),
    api(ApiKey::OffsetDelete, 0, 0),
    api(ApiKey::InitProducerId, 0, 5),
    // Transactions (KIP-98); AddPartitionsToTxn v4 is the brokers' batched
    // verification (KIP-890), v5 and EndTxn v4+ belong to transaction
    // version 2, which is not served.
    api(ApiKey::AddPartitionsToTxn, 0, 4),
    api(ApiKey::AddOffsetsToTxn, 0, 3),
    api(ApiKey::EndTxn, 0, 3),
    api(ApiKey::DescribeTransactions, 0, 0),
    api(ApiKey::ListTransactions, 0, 1),
    api(ApiKey::TxnOffsetCommit, 0, 3),
    api(ApiKey::ElectLeaders, 0, 2),
    // KIP-455; v1 carries allow_replication_factor_change (KIP-860).
    api(ApiKey::AlterPartitionReassignments, 0, 1),
    api(ApiKey::ListPartitionReassignments, 0, 0),
    api(ApiKey::DescribeQuorum, 0, 2),
    // KIP-848; advertised only while group.coordinator.rebalance.protocols
    // lists `consumer` (handlers/api_versions.rs).
    api(ApiKey::ConsumerGroupHeartbeat, 0, 1),
    api(ApiKey::ConsumerGroupDescribe, 0, 1),
    // v0 is followed by raw SASL tokens; v1 by SaslAuthenticate (KIP-152).
    api(ApiKey::SaslHandshake, 0, 1),
    // v1 carries the session lifetime (KIP-368).
    api(ApiKey::SaslAuthenticate, 0, 2),
    api(ApiKey::DescribeUserScramCredentials, 0, 0),
    api(ApiKey::AlterUserScramCredentials, 0, 0),
    // v1 and later, as Kafka 4 (KIP-896 removed v0).
    api(ApiKey::DescribeAcls, 1, 3),
    api(ApiKey::CreateAcls, 1, 3),
    api(ApiKey::DeleteAcls, 1, 3),
];

/// The served range of `api_key`, if it is served at all.
pub fn supported(api_key: ApiKey) -> Option<&'static SupportedApi> {
    SUPPORTED_APIS.iter().find(|api| api.api_key == api_key)
}

/// Whether `version` of `api_key` is served.
pub fn is_supported(api_key: ApiKey, version: i16) -> bool {
    supported(api_key).is_some_and(|api| (api.min_version..=api.max_version).contains(&version))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_advertised_range_is_within_what_the_codec_supports() {
        for api in SUPPORTED_APIS {
            let codec = api.api_key.valid_versions();
            assert!(api.min_version <= api.max_version, "{api:?}");
            assert!(codec.min <= api.min_version, "{api:?}");
            assert!(api.max_version <= codec.max, "{api:?}");
        }
    }

    #[test]
    fn each_api_is_listed_once() {
        for (i, a) in SUPPORTED_APIS.iter().enumerate() {
            for b in SUPPORTED_APIS.iter().skip(i + 1) {
                assert_ne!(a.api_key, b.api_key);
            }
        }
    }
}
