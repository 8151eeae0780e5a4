//! Topic names, checked by Kafka's rules before a name is ever used to build
//! a path: 1 to 249 characters of `[a-zA-Z0-9._-]`, and neither `.` nor `..`;
//! and which names are internal topics.

use crate::group_coordinator::CONSUMER_OFFSETS_TOPIC;

/// Why a topic name is illegal (Kafka's INVALID_TOPIC_EXCEPTION).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopicNameError {
    /// The empty name.
    #[error("topic name is empty")]
    Empty,
    /// `.` or `..`.
    #[error("topic name cannot be \".\" or \"..\"")]
    DotName,
    /// Longer than 249 characters.
    #[error("topic name is {0} characters long; the limit is 249")]
    TooLong(usize),
    /// A character outside `[a-zA-Z0-9._-]`.
    #[error("topic name contains {0:?}; only ASCII letters, digits, '.', '_' and '-' are legal")]
    IllegalCharacter(char),
}

/// The longest legal topic name, in characters (Kafka's limit).
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// Checks `name` against Kafka's topic name rules.
///
/// # Errors
/// The first rule the name breaks.
pub fn validate_topic_name(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if name == "." || name == ".." {
        return Err(TopicNameError::DotName);
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return Err(TopicNameError::TooLong(name.chars().count()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(TopicNameError::IllegalCharacter(bad));
    }
    Ok(())
}

/// Whether `name` is an internal topic (Metadata's `is_internal`): clients
/// cannot delete or repartition it, nor produce to it.
pub fn is_internal_topic(name: &str) -> bool {
    name == CONSUMER_OFFSETS_TOPIC
        || name == crate::transaction_coordinator::TRANSACTION_STATE_TOPIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_rules_hold() {
        assert_eq!(validate_topic_name("orders.v1_a-b"), Ok(()));
        assert_eq!(validate_topic_name(&"a".repeat(249)), Ok(()));
        assert_eq!(
            validate_topic_name(&"a".repeat(250)),
            Err(TopicNameError::TooLong(250))
        );
        assert_eq!(validate_topic_name(""), Err(TopicNameError::Empty));
        assert_eq!(validate_topic_name("."), Err(TopicNameError::DotName));
        assert_eq!(validate_topic_name(".."), Err(TopicNameError::DotName));
        assert_eq!(
            validate_topic_name("../../etc"),
            Err(TopicNameError::IllegalCharacter('/'))
        );
        assert_eq!(
            validate_topic_name("a b"),
            Err(TopicNameError::IllegalCharacter(' '))
        );
        assert_eq!(
            validate_topic_name("é"),
            Err(TopicNameError::IllegalCharacter('é'))
        );
    }
}
