//! The `authorized_operations` bit fields of Metadata, DescribeCluster,
//! DescribeGroups and ConsumerGroupDescribe (KIP-430): which ACL operations
//! the caller may perform on a topic, group or the cluster. Without an
//! authorizer Kafka answers every operation the resource type supports
//! (`AuthHelper.authorizedOperations`); that is what these are. When the
//! request does not ask, the field is Kafka's "omitted" value, `i32::MIN`.

/// Kafka's ACL operation codes (`AclOperation`) used below.
const READ: u8 = 3;
const WRITE: u8 = 4;
const CREATE: u8 = 5;
const DELETE: u8 = 6;
const ALTER: u8 = 7;
const DESCRIBE: u8 = 8;
const CLUSTER_ACTION: u8 = 9;
const DESCRIBE_CONFIGS: u8 = 10;
const ALTER_CONFIGS: u8 = 11;
const IDEMPOTENT_WRITE: u8 = 12;

/// The field when the request did not ask for it.
pub const OMITTED: i32 = i32::MIN;

/// Every operation on a topic (Kafka's `AclEntry.supportedOperations(TOPIC)`).
pub const TOPIC: i32 = (1 << READ)
    | (1 << WRITE)
    | (1 << CREATE)
    | (1 << DESCRIBE)
    | (1 << DELETE)
    | (1 << ALTER)
    | (1 << DESCRIBE_CONFIGS)
    | (1 << ALTER_CONFIGS);
/// Every operation on a consumer group.
pub const GROUP: i32 = (1 << READ) | (1 << DESCRIBE) | (1 << DELETE);
/// Every operation on the cluster.
pub const CLUSTER: i32 = (1 << CREATE)
    | (1 << CLUSTER_ACTION)
    | (1 << DESCRIBE_CONFIGS)
    | (1 << ALTER_CONFIGS)
    | (1 << IDEMPOTENT_WRITE)
    | (1 << ALTER)
    | (1 << DESCRIBE);

/// `operations` if the request asked for them, else [`OMITTED`].
pub fn if_asked(asked: bool, operations: i32) -> i32 {
    if asked {
        operations
    } else {
        OMITTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_fields_match_kafkas_encoding() {
        // Kafka's Utils.to32BitField over the operation codes.
        assert_eq!(TOPIC, 0b1101_1111_1000);
        assert_eq!(GROUP, (1 << 3) | (1 << 6) | (1 << 8));
        assert_eq!(CLUSTER, 0b1_1111_1010_0000);
        assert_eq!(if_asked(false, TOPIC), i32::MIN);
        assert_eq!(if_asked(true, GROUP), GROUP);
    }
}
