//! The metadata image: an immutable snapshot of cluster metadata (topics,
//! their ids, partition counts and config overrides) after applying every
//! committed record. The control shard builds a new image per change and
//! publishes it to every shard as an `Arc`; shards never mutate it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::metadata_record::{MetadataRecord, TopicId};

/// One topic as the image knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The topic's name (validated before it was ever recorded).
    pub name: String,
    /// Its id: what placement hashes.
    pub topic_id: TopicId,
    /// Number of partitions, `0..partitions`.
    pub partitions: i32,
    /// Config overrides by Kafka property name; absent keys take the broker
    /// default.
    pub configs: BTreeMap<String, String>,
}

/// The committed state of cluster metadata at one point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// How many records produced this image (0 for the empty image).
    pub version: u64,
    topics: BTreeMap<String, Arc<TopicImage>>,
    names_by_id: HashMap<TopicId, String>,
    /// The first producer id not yet handed out or reserved.
    pub next_producer_id_block: i64,
}

impl MetadataImage {
    /// The image after replaying `records` from the empty image.
    pub fn replay<'a>(records: impl IntoIterator<Item = &'a MetadataRecord>) -> MetadataImage {
        let mut image = MetadataImage::default();
        for record in records {
            image.apply(record);
        }
        image
    }

    /// Applies one committed record. Records that name a topic the image does
    /// not know are ignored: they cannot be produced by a correct controller,
    /// and replay must not fail on them.
    pub fn apply(&mut self, record: &MetadataRecord) {
        self.version += 1;
        match record {
            MetadataRecord::Topic {
                topic_id,
                name,
                partitions,
                configs,
            } => {
                assert!(*partitions > 0, "topics are created with partitions");
                let topic = TopicImage {
                    name: name.clone(),
                    topic_id: *topic_id,
                    partitions: *partitions,
                    configs: configs.iter().cloned().collect(),
                };
                self.names_by_id.insert(*topic_id, name.clone());
                self.topics.insert(name.clone(), Arc::new(topic));
            }
            MetadataRecord::PartitionCount {
                topic_id,
                partitions,
            } => {
                if let Some(topic) = self.topic_by_id_mut(topic_id) {
                    assert!(*partitions >= topic.partitions, "partitions only grow");
                    topic.partitions = *partitions;
                }
            }
            MetadataRecord::TopicConfig {
                topic_id,
                key,
                value,
            } => {
                if let Some(topic) = self.topic_by_id_mut(topic_id) {
                    match value {
                        Some(value) => topic.configs.insert(key.clone(), value.clone()),
                        None => topic.configs.remove(key),
                    };
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.names_by_id.remove(topic_id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::ProducerIdBlock { next_block_start } => {
                assert!(
                    *next_block_start >= self.next_producer_id_block,
                    "producer id blocks only move forward"
                );
                self.next_producer_id_block = *next_block_start;
            }
        }
    }

    fn topic_by_id_mut(&mut self, topic_id: &TopicId) -> Option<&mut TopicImage> {
        let name = self.names_by_id.get(topic_id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }

    /// The topic called `name`.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    /// The topic with id `topic_id`.
    pub fn topic_by_id(&self, topic_id: &TopicId) -> Option<&Arc<TopicImage>> {
        self.names_by_id
            .get(topic_id)
            .and_then(|name| self.topics.get(name))
    }

    /// Every topic, by name.
    pub fn topics(&self) -> impl Iterator<Item = &Arc<TopicImage>> {
        self.topics.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_applies_creates_growth_configs_and_removals() {
        let id = [9; 16];
        let records = vec![
            MetadataRecord::Topic {
                topic_id: id,
                name: "t".into(),
                partitions: 1,
                configs: vec![("retention.ms".into(), "5".into())],
            },
            MetadataRecord::PartitionCount {
                topic_id: id,
                partitions: 4,
            },
            MetadataRecord::TopicConfig {
                topic_id: id,
                key: "segment.bytes".into(),
                value: Some("1024".into()),
            },
            MetadataRecord::TopicConfig {
                topic_id: id,
                key: "retention.ms".into(),
                value: None,
            },
        ];
        let image = MetadataImage::replay(&records);
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions, 4);
        assert_eq!(topic.configs.len(), 1);
        assert_eq!(topic.configs["segment.bytes"], "1024");
        assert_eq!(image.topic_by_id(&id).unwrap().name, "t");
        assert_eq!(image.version, 4);

        let mut removed = image.clone();
        removed.apply(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(removed.topic("t").is_none());
        assert!(removed.topic_by_id(&id).is_none());
        assert!(image.topic("t").is_some(), "images are immutable snapshots");
    }
}
