//! The topic config rules: which config changes AlterConfigs and
//! IncrementalAlterConfigs may make to a topic, and the records each writes
//! (one [`MetadataRecord::TopicConfig`] per override that actually changes).
//! Kafka's `ConfigurationControlManager`, for topics.

use std::collections::BTreeMap;

use super::{ControllerResult, MetadataController};
use crate::config::{is_topic_config, validate_topic_config, ConfigError};
use crate::error::ControllerError;
use crate::metadata_record::MetadataRecord;

/// Config changes for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfigChange {
    /// The topic.
    pub topic: String,
    /// Replace every override with `ops` (AlterConfigs) rather than apply
    /// them one by one (IncrementalAlterConfigs).
    pub replace_all: bool,
    /// `(name, Some(value))` sets, `(name, None)` removes an override.
    pub ops: Vec<(String, Option<String>)>,
}

impl MetadataController {
    /// AlterConfigs / IncrementalAlterConfigs on topics: one result per
    /// change, in request order. A change is refused whole for an unknown
    /// topic, an unknown property (even one being removed) or a bad value.
    /// Setting an override to the value it has, or removing one that is not
    /// set, writes nothing.
    pub fn alter_topic_configs(
        &self,
        changes: Vec<TopicConfigChange>,
    ) -> ControllerResult<Vec<Result<(), ControllerError>>> {
        let mut records = Vec::new();
        let response = changes
            .into_iter()
            .map(|change| {
                let topic = self
                    .image
                    .topic(&change.topic)
                    .ok_or_else(|| ControllerError::UnknownTopic(change.topic.clone()))?;
                let mut wanted: BTreeMap<String, Option<String>> = BTreeMap::new();
                if change.replace_all {
                    for key in topic.configs.keys() {
                        wanted.insert(key.clone(), None);
                    }
                }
                for (name, value) in change.ops {
                    let value = match value {
                        Some(value) => Some(validate_topic_config(&name, &value)?),
                        None => {
                            // Deleting an override of an unknown config is an error too.
                            if !is_topic_config(&name) {
                                return Err(ConfigError::UnknownProperty(name.clone()).into());
                            }
                            None
                        }
                    };
                    wanted.insert(name, value);
                }
                for (key, value) in wanted {
                    if topic.configs.get(&key) != value.as_ref() {
                        records.push(MetadataRecord::TopicConfig {
                            topic_id: topic.topic_id,
                            key,
                            value,
                        });
                    }
                }
                Ok(())
            })
            .collect();
        ControllerResult { records, response }
    }
}
