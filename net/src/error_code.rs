//! Kafka error codes, and the one place where Skein's typed errors become
//! them. Each mapping is an exhaustive `match`, so a new error variant forces
//! a decision here.

use skein_controller::group_coordinator::GroupError;
use skein_controller::transaction_coordinator::TransactionError;
use skein_controller::{ConfigError, ControllerError, TopicNameError};
use skein_engine::{AppendError, CompressionError, LogError, ReadError};
use skein_replication::{ProducerError, ReplicationError};

use crate::authenticator::AuthError;
use crate::fetch_session::FetchSessionError;
use crate::shard_message::{ControlError, PartitionError};

/// Kafka's name of an error code as its documentation spells it
/// (`TOPIC_ALREADY_EXISTS` for 36, `NONE` for 0); `UNKNOWN_<code>` for a
/// code the protocol crate does not know.
pub fn error_code_name(code: i16) -> String {
    use kafka_protocol::error::{ParseResponseErrorCode, ResponseError};
    match code.err() {
        None => "NONE".to_owned(),
        Some(ResponseError::Unknown(code)) => format!("UNKNOWN_{code}"),
        Some(known) => {
            // The Debug form is the CamelCase variant name.
            let camel = format!("{known:?}");
            let mut name = String::with_capacity(camel.len() + 8);
            for (index, character) in camel.chars().enumerate() {
                if character.is_ascii_uppercase() && index > 0 {
                    name.push('_');
                }
                name.push(character.to_ascii_uppercase());
            }
            name
        }
    }
}

/// Declares [`ErrorCode`] and its conversion from the wire from one list.
macro_rules! error_codes {
    ($($name:ident = $code:literal,)*) => {
        /// A Kafka protocol error code (see Kafka's `Errors.java`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(i16)]
        pub enum ErrorCode {
            $($name = $code,)*
        }

        impl ErrorCode {
            /// The code as sent on the wire.
            pub fn code(self) -> i16 {
                self as i16
            }

            /// The error of wire code `code`, if Skein knows it.
            pub fn from_code(code: i16) -> Option<ErrorCode> {
                match code {
                    $($code => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1,
    None = 0,
    OffsetOutOfRange = 1,
    CorruptMessage = 2,
    UnknownTopicOrPartition = 3,
    LeaderNotAvailable = 5,
    NotLeaderOrFollower = 6,
    RequestTimedOut = 7,
    MessageTooLarge = 10,
    OffsetMetadataTooLarge = 12,
    CoordinatorLoadInProgress = 14,
    CoordinatorNotAvailable = 15,
    NotCoordinator = 16,
    InvalidTopicException = 17,
    NotEnoughReplicas = 19,
    NotEnoughReplicasAfterAppend = 20,
    InvalidRequiredAcks = 21,
    IllegalGeneration = 22,
    InconsistentGroupProtocol = 23,
    InvalidGroupId = 24,
    UnknownMemberId = 25,
    InvalidSessionTimeout = 26,
    RebalanceInProgress = 27,
    InvalidCommitOffsetSize = 28,
    TopicAuthorizationFailed = 29,
    GroupAuthorizationFailed = 30,
    ClusterAuthorizationFailed = 31,
    InvalidTimestamp = 32,
    UnsupportedSaslMechanism = 33,
    IllegalSaslState = 34,
    UnsupportedVersion = 35,
    TopicAlreadyExists = 36,
    InvalidPartitions = 37,
    InvalidReplicationFactor = 38,
    InvalidReplicaAssignment = 39,
    InvalidConfig = 40,
    NotController = 41,
    InvalidRequest = 42,
    OutOfOrderSequenceNumber = 45,
    InvalidProducerEpoch = 47,
    InvalidTxnState = 48,
    InvalidProducerIdMapping = 49,
    InvalidTransactionTimeout = 50,
    ConcurrentTransactions = 51,
    TransactionCoordinatorFenced = 52,
    TransactionalIdAuthorizationFailed = 53,
    SecurityDisabled = 54,
    OperationNotAttempted = 55,
    KafkaStorageError = 56,
    LogDirNotFound = 57,
    SaslAuthenticationFailed = 58,
    NonEmptyGroup = 68,
    GroupIdNotFound = 69,
    FetchSessionIdNotFound = 70,
    InvalidFetchSessionEpoch = 71,
    TopicDeletionDisabled = 73,
    FencedLeaderEpoch = 74,
    UnknownLeaderEpoch = 75,
    StaleBrokerEpoch = 77,
    MemberIdRequired = 79,
    PreferredLeaderNotAvailable = 80,
    GroupMaxSizeReached = 81,
    FencedInstanceId = 82,
    EligibleLeadersNotAvailable = 83,
    ElectionNotNeeded = 84,
    NoReassignmentInProgress = 85,
    GroupSubscribedToTopic = 86,
    InvalidRecord = 87,
    UnstableOffsetCommit = 88,
    ProducerFenced = 90,
    ResourceNotFound = 91,
    DuplicateResource = 92,
    UnacceptableCredential = 93,
    InvalidUpdateVersion = 95,
    UnknownTopicId = 100,
    DuplicateBrokerRegistration = 101,
    BrokerIdNotRegistered = 102,
    InconsistentTopicId = 103,
    InconsistentClusterId = 104,
    TransactionalIdNotFound = 105,
    FetchSessionTopicIdError = 106,
    IneligibleReplica = 107,
    FencedMemberEpoch = 110,
    UnreleasedInstanceId = 111,
    UnsupportedAssignor = 112,
    StaleMemberEpoch = 113,
    NewLeaderElected = 116,
    InvalidRegularExpression = 128,
}

/// The code for a failed partition operation.
pub fn partition_error(error: &PartitionError) -> ErrorCode {
    match error {
        PartitionError::UnknownTopicOrPartition => ErrorCode::UnknownTopicOrPartition,
        PartitionError::NotLeader { .. } => ErrorCode::NotLeaderOrFollower,
        // Kafka's answer for a partition in a failed log directory.
        PartitionError::LogDirOffline => ErrorCode::KafkaStorageError,
        // Retriable: the partition serves again once it is in its new
        // directory (Kafka keeps serving during a move; Skein stops the
        // partition for the copy, see skein_engine::LogDirs).
        PartitionError::Moving => ErrorCode::LeaderNotAvailable,
        PartitionError::Append(error) => append_error(error),
        PartitionError::Read(error) => read_error(error),
        PartitionError::Log(error) => log_error(error),
        // The owner shard is shutting down: the client retries, and finds
        // the partition's new leader in its next metadata.
        PartitionError::OwnerUnavailable => ErrorCode::NotLeaderOrFollower,
        PartitionError::Producer(error) => producer_error(error),
        PartitionError::UnexpectedReply => ErrorCode::UnknownServerError,
        PartitionError::Replication(error) => replication_error(error),
        // Kafka's delayed produce expiring: the records stay appended.
        PartitionError::ReplicationTimedOut => ErrorCode::RequestTimedOut,
    }
}

/// The code for a refused replication step.
pub fn replication_error(error: &ReplicationError) -> ErrorCode {
    match error {
        ReplicationError::NotEnoughReplicas { .. } => ErrorCode::NotEnoughReplicas,
        ReplicationError::NotEnoughReplicasAfterAppend { .. } => {
            ErrorCode::NotEnoughReplicasAfterAppend
        }
        ReplicationError::NotLeader { .. } => ErrorCode::NotLeaderOrFollower,
        // Kafka: the leader "failed to record follower's position since the
        // replica is not recognized to be one of the assigned replicas".
        ReplicationError::NotAReplica { .. } => ErrorCode::NotLeaderOrFollower,
        ReplicationError::FetchOffsetBeyondLogEnd { .. } => ErrorCode::OffsetOutOfRange,
        ReplicationError::LogUnavailable => ErrorCode::KafkaStorageError,
    }
}

/// The code for a refused idempotent batch.
pub fn producer_error(error: &ProducerError) -> ErrorCode {
    match error {
        ProducerError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
        ProducerError::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
        ProducerError::InvalidTxnState { .. } => ErrorCode::InvalidTxnState,
        ProducerError::TransactionCoordinatorFenced { .. } => {
            ErrorCode::TransactionCoordinatorFenced
        }
        ProducerError::InvalidRecord { .. } => ErrorCode::InvalidRecord,
    }
}

/// The code for a refused append.
pub fn append_error(error: &AppendError) -> ErrorCode {
    match error {
        AppendError::CorruptBatch { .. } => ErrorCode::CorruptMessage,
        AppendError::BatchTooLarge { .. } => ErrorCode::MessageTooLarge,
        AppendError::Compression { source, .. } => compression_error(source),
        AppendError::InvalidTimestamp { .. } => ErrorCode::InvalidTimestamp,
        AppendError::Empty => ErrorCode::CorruptMessage,
        AppendError::Storage(error) => log_error(error),
        AppendError::Poisoned => ErrorCode::KafkaStorageError,
    }
}

/// The code for a batch that could not be rebuilt in its topic's
/// `compression.type`: Kafka refuses a batch that does not decompress with
/// CORRUPT_MESSAGE; one too large to rebuild is MESSAGE_TOO_LARGE.
pub fn compression_error(error: &CompressionError) -> ErrorCode {
    match error {
        CompressionError::UnknownCodec { .. }
        | CompressionError::Decompress { .. }
        | CompressionError::Records(_) => ErrorCode::CorruptMessage,
        CompressionError::DecompressedTooLarge { .. } => ErrorCode::MessageTooLarge,
        CompressionError::Compress { .. } => ErrorCode::UnknownServerError,
    }
}

/// The top-level code of a fetch that cannot use the session it names.
pub fn fetch_session_error(error: &FetchSessionError) -> ErrorCode {
    match error {
        FetchSessionError::SessionIdNotFound { .. } => ErrorCode::FetchSessionIdNotFound,
        FetchSessionError::InvalidEpoch { .. } => ErrorCode::InvalidFetchSessionEpoch,
        FetchSessionError::TopicIdUsageChanged { .. } => ErrorCode::FetchSessionTopicIdError,
        // The session was closed for growing too big: the fetcher must open
        // a new one, which is what it does on FETCH_SESSION_ID_NOT_FOUND.
        FetchSessionError::Outgrown { .. } => ErrorCode::FetchSessionIdNotFound,
    }
}

/// The code for a failed read.
pub fn read_error(error: &ReadError) -> ErrorCode {
    match error {
        ReadError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        ReadError::Storage(error) => log_error(error),
    }
}

/// The code for a log failure.
pub fn log_error(error: &LogError) -> ErrorCode {
    match error {
        LogError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        LogError::Poisoned
        | LogError::Io { .. }
        | LogError::CorruptSegment { .. }
        | LogError::CorruptRecords { .. } => ErrorCode::KafkaStorageError,
        LogError::Config(_) => ErrorCode::InvalidConfig,
    }
}

/// The code for an illegal topic name.
pub fn topic_name_error(_error: &TopicNameError) -> ErrorCode {
    ErrorCode::InvalidTopicException
}

/// The code for a refused config.
pub fn config_error(error: &ConfigError) -> ErrorCode {
    match error {
        ConfigError::UnknownProperty(_)
        | ConfigError::InvalidValue { .. }
        | ConfigError::Unsupported { .. } => ErrorCode::InvalidConfig,
    }
}

/// The code for a metadata change the controller's rules refused.
pub fn controller_error(error: &ControllerError) -> ErrorCode {
    match error {
        ControllerError::TopicAlreadyExists(_) => ErrorCode::TopicAlreadyExists,
        ControllerError::InvalidTopicName(error) => topic_name_error(error),
        ControllerError::InvalidConfig(error) => config_error(error),
        ControllerError::PartitionCountNotPositive(_)
        | ControllerError::PartitionCountNotIncreased { .. }
        | ControllerError::TooManyPartitions { .. } => ErrorCode::InvalidPartitions,
        ControllerError::InvalidReplicationFactor { .. }
        | ControllerError::ReplicationFactorNotPositive(_) => ErrorCode::InvalidReplicationFactor,
        ControllerError::UnknownTopic(_) | ControllerError::UnknownPartition { .. } => {
            ErrorCode::UnknownTopicOrPartition
        }
        ControllerError::UnknownTopicId => ErrorCode::UnknownTopicId,
        ControllerError::TopicDeletionDisabled => ErrorCode::TopicDeletionDisabled,
        // Kafka refuses deleting or repartitioning an internal topic with
        // INVALID_TOPIC_EXCEPTION.
        ControllerError::InternalTopic(_) => ErrorCode::InvalidTopicException,
        ControllerError::BrokerIdNotRegistered(_) => ErrorCode::BrokerIdNotRegistered,
        ControllerError::StaleBrokerEpoch { .. } => ErrorCode::StaleBrokerEpoch,
        // Kafka has no code of its own for a replaced incarnation: to the
        // broker it is another registration of its id.
        ControllerError::DuplicateBrokerRegistration(_)
        | ControllerError::StaleBrokerIncarnation(_) => ErrorCode::DuplicateBrokerRegistration,
        ControllerError::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
        ControllerError::InvalidUpdateVersion { .. } => ErrorCode::InvalidUpdateVersion,
        ControllerError::NotController => ErrorCode::NotController,
        ControllerError::InvalidRequest(_)
        | ControllerError::InvalidAcl(_)
        | ControllerError::ManualAssignmentWithReplicationFactor
        | ControllerError::ManualAssignmentWithPartitionCount => ErrorCode::InvalidRequest,
        ControllerError::IneligibleReplica(_) => ErrorCode::IneligibleReplica,
        ControllerError::ElectionNotNeeded => ErrorCode::ElectionNotNeeded,
        ControllerError::PreferredLeaderNotAvailable => ErrorCode::PreferredLeaderNotAvailable,
        ControllerError::EligibleLeadersNotAvailable => ErrorCode::EligibleLeadersNotAvailable,
        ControllerError::DuplicateScramCredential => ErrorCode::DuplicateResource,
        ControllerError::UnknownScramMechanism => ErrorCode::UnsupportedSaslMechanism,
        ControllerError::UnacceptableCredential(_) => ErrorCode::UnacceptableCredential,
        ControllerError::ScramCredentialNotFound(_) => ErrorCode::ResourceNotFound,
        ControllerError::InvalidReplicaAssignment(_) => ErrorCode::InvalidReplicaAssignment,
        ControllerError::ReplicationFactorChanged { .. } => ErrorCode::InvalidReplicationFactor,
        ControllerError::NoReassignmentInProgress { .. } => ErrorCode::NoReassignmentInProgress,
    }
}

/// The code for a refused SaslHandshake or SaslAuthenticate.
pub fn auth_error(error: &AuthError) -> ErrorCode {
    match error {
        AuthError::UnsupportedMechanism(_) => ErrorCode::UnsupportedSaslMechanism,
        AuthError::IllegalState(_) => ErrorCode::IllegalSaslState,
        AuthError::Failed(_) => ErrorCode::SaslAuthenticationFailed,
    }
}

/// The code for a metadata change that was not made.
pub fn control_error(error: &ControlError) -> ErrorCode {
    match error {
        ControlError::Refused(error) => controller_error(error),
        ControlError::Storage(_) => ErrorCode::KafkaStorageError,
        ControlError::Unavailable => ErrorCode::RequestTimedOut,
        ControlError::NotController { .. } => ErrorCode::NotController,
        ControlError::Remote { code, .. } => *code,
    }
}

/// The code for a transaction coordinator outcome (1:1; see each
/// [`TransactionError`] variant).
pub fn transaction_error(error: &TransactionError) -> ErrorCode {
    match error {
        TransactionError::UnknownServerError => ErrorCode::UnknownServerError,
        TransactionError::CoordinatorLoadInProgress => ErrorCode::CoordinatorLoadInProgress,
        TransactionError::CoordinatorNotAvailable => ErrorCode::CoordinatorNotAvailable,
        TransactionError::NotCoordinator => ErrorCode::NotCoordinator,
        TransactionError::InvalidProducerEpoch => ErrorCode::InvalidProducerEpoch,
        TransactionError::InvalidTxnState => ErrorCode::InvalidTxnState,
        TransactionError::InvalidProducerIdMapping => ErrorCode::InvalidProducerIdMapping,
        TransactionError::InvalidTransactionTimeout => ErrorCode::InvalidTransactionTimeout,
        TransactionError::ConcurrentTransactions => ErrorCode::ConcurrentTransactions,
        TransactionError::TransactionalIdNotFound => ErrorCode::TransactionalIdNotFound,
        TransactionError::ProducerFenced => ErrorCode::ProducerFenced,
    }
}

/// The code TxnOffsetCommit (v0–v3) answers when verifying its transaction
/// failed with `code` (Kafka's `AddPartitionsToTxnManager`, then the group
/// coordinator's `handleOperationException`): PRODUCER_FENCED becomes
/// INVALID_PRODUCER_EPOCH, a refused verification
/// (CLUSTER_AUTHORIZATION_FAILED) INVALID_TXN_STATE, and availability and
/// storage codes the coordinator's.
pub fn txn_offset_commit_verification(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        ErrorCode::ClusterAuthorizationFailed => ErrorCode::InvalidTxnState,
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::RequestTimedOut => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
        ErrorCode::MessageTooLarge => ErrorCode::UnknownServerError,
        code => code,
    }
}

/// The code for a group coordinator outcome (the mapping is 1:1; see each
/// [`GroupError`] variant).
pub fn group_error(error: &GroupError) -> ErrorCode {
    match error {
        GroupError::UnknownServerError => ErrorCode::UnknownServerError,
        GroupError::OffsetMetadataTooLarge => ErrorCode::OffsetMetadataTooLarge,
        GroupError::CoordinatorLoadInProgress => ErrorCode::CoordinatorLoadInProgress,
        GroupError::CoordinatorNotAvailable => ErrorCode::CoordinatorNotAvailable,
        GroupError::NotCoordinator => ErrorCode::NotCoordinator,
        GroupError::IllegalGeneration => ErrorCode::IllegalGeneration,
        GroupError::InconsistentGroupProtocol => ErrorCode::InconsistentGroupProtocol,
        GroupError::InvalidGroupId => ErrorCode::InvalidGroupId,
        GroupError::UnknownMemberId => ErrorCode::UnknownMemberId,
        GroupError::InvalidSessionTimeout => ErrorCode::InvalidSessionTimeout,
        GroupError::RebalanceInProgress => ErrorCode::RebalanceInProgress,
        GroupError::InvalidCommitOffsetSize => ErrorCode::InvalidCommitOffsetSize,
        GroupError::UnknownTopicOrPartition => ErrorCode::UnknownTopicOrPartition,
        GroupError::NonEmptyGroup => ErrorCode::NonEmptyGroup,
        GroupError::GroupIdNotFound => ErrorCode::GroupIdNotFound,
        GroupError::MemberIdRequired { .. } => ErrorCode::MemberIdRequired,
        GroupError::GroupMaxSizeReached => ErrorCode::GroupMaxSizeReached,
        GroupError::FencedInstanceId => ErrorCode::FencedInstanceId,
        GroupError::GroupSubscribedToTopic => ErrorCode::GroupSubscribedToTopic,
        GroupError::InvalidRequest { .. } => ErrorCode::InvalidRequest,
        GroupError::UnsupportedVersion => ErrorCode::UnsupportedVersion,
        GroupError::FencedMemberEpoch => ErrorCode::FencedMemberEpoch,
        GroupError::UnreleasedInstanceId => ErrorCode::UnreleasedInstanceId,
        GroupError::UnsupportedAssignor { .. } => ErrorCode::UnsupportedAssignor,
        GroupError::StaleMemberEpoch => ErrorCode::StaleMemberEpoch,
        GroupError::InvalidRegularExpression { .. } => ErrorCode::InvalidRegularExpression,
    }
}

/// The code of a group coordinator result: `None` for `Ok`.
pub fn group_result<T>(result: &Result<T, GroupError>) -> ErrorCode {
    match result {
        Ok(_) => ErrorCode::None,
        Err(error) => group_error(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_names_are_kafkas_spelling() {
        assert_eq!(error_code_name(0), "NONE");
        assert_eq!(error_code_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_code_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_code_name(i16::MAX), format!("UNKNOWN_{}", i16::MAX));
        for (code, name) in [
            (ErrorCode::NotController, "NOT_CONTROLLER"),
            (ErrorCode::FencedLeaderEpoch, "FENCED_LEADER_EPOCH"),
            (ErrorCode::StaleBrokerEpoch, "STALE_BROKER_EPOCH"),
            (
                ErrorCode::PreferredLeaderNotAvailable,
                "PREFERRED_LEADER_NOT_AVAILABLE",
            ),
            (
                ErrorCode::EligibleLeadersNotAvailable,
                "ELIGIBLE_LEADERS_NOT_AVAILABLE",
            ),
            (ErrorCode::ElectionNotNeeded, "ELECTION_NOT_NEEDED"),
            (ErrorCode::FencedMemberEpoch, "FENCED_MEMBER_EPOCH"),
            (ErrorCode::StaleMemberEpoch, "STALE_MEMBER_EPOCH"),
            (ErrorCode::InvalidUpdateVersion, "INVALID_UPDATE_VERSION"),
            (
                ErrorCode::DuplicateBrokerRegistration,
                "DUPLICATE_BROKER_REGISTRATION",
            ),
            (ErrorCode::BrokerIdNotRegistered, "BROKER_ID_NOT_REGISTERED"),
            (ErrorCode::IneligibleReplica, "INELIGIBLE_REPLICA"),
            (
                ErrorCode::SaslAuthenticationFailed,
                "SASL_AUTHENTICATION_FAILED",
            ),
            (ErrorCode::IllegalSaslState, "ILLEGAL_SASL_STATE"),
            (
                ErrorCode::UnsupportedSaslMechanism,
                "UNSUPPORTED_SASL_MECHANISM",
            ),
            (ErrorCode::UnacceptableCredential, "UNACCEPTABLE_CREDENTIAL"),
            (ErrorCode::ResourceNotFound, "RESOURCE_NOT_FOUND"),
            (ErrorCode::DuplicateResource, "DUPLICATE_RESOURCE"),
        ] {
            assert_eq!(error_code_name(code.code()), name);
        }
    }
}
