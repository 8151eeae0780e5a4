//! Metadata: brokers, the controller and topics with their partitions;
//! creates unknown topics when auto-creation is on and the request allows it.

use kafka_protocol::messages::metadata_request::MetadataRequest;
use kafka_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::BrokerId;
use skein_controller::{validate_topic_name, TopicImage};
use uuid::Uuid;

use super::{str_bytes, topic_name};
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlReply, ControlRequest, NewTopic, ShardReply, ShardRequest};
use crate::shard_state::ShardState;

/// Answers a Metadata request of `version`.
pub async fn handle(ctx: &ShardState, request: MetadataRequest, version: i16) -> MetadataResponse {
    let node = BrokerId(ctx.config.node_id());
    let all_topics = match &request.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    };
    let mut topics = Vec::new();
    if all_topics {
        let image = ctx.image();
        topics.extend(image.topics().map(|topic| describe(topic, node)));
    } else {
        let requested = request.topics.unwrap_or_default();
        let auto_create =
            ctx.config.auto_create_topics() && (version < 4 || request.allow_auto_topic_creation);
        let mut missing = Vec::new();
        for wanted in &requested {
            let image = ctx.image();
            match &wanted.name {
                Some(name) => {
                    if validate_topic_name(name).is_err() {
                        topics.push(error_topic(
                            Some(name.as_str()),
                            ErrorCode::InvalidTopicException,
                        ));
                    } else if let Some(topic) = image.topic(name) {
                        topics.push(describe(topic, node));
                    } else if auto_create {
                        missing.push(name.to_string());
                    } else {
                        topics.push(error_topic(
                            Some(name.as_str()),
                            ErrorCode::UnknownTopicOrPartition,
                        ));
                    }
                }
                None => match image.topic_by_id(wanted.topic_id.as_bytes()) {
                    Some(topic) => topics.push(describe(topic, node)),
                    None => {
                        let mut unknown = error_topic(None, ErrorCode::UnknownTopicId);
                        unknown.topic_id = wanted.topic_id;
                        topics.push(unknown);
                    }
                },
            }
        }
        if !missing.is_empty() {
            auto_create_topics(ctx, &missing).await;
            let image = ctx.image();
            for name in missing {
                topics.push(match image.topic(&name) {
                    Some(topic) => describe(topic, node),
                    None => error_topic(Some(&name), ErrorCode::LeaderNotAvailable),
                });
            }
        }
    }
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(str_bytes(&ctx.advertised.host))
            .with_port(i32::from(ctx.advertised.port))])
        .with_cluster_id(Some(str_bytes(&ctx.cluster_id)))
        .with_controller_id(node)
        .with_topics(topics)
        .with_cluster_authorized_operations(i32::MIN)
}

async fn auto_create_topics(ctx: &ShardState, names: &[String]) {
    let topics = names
        .iter()
        .map(|name| NewTopic {
            name: name.clone(),
            partitions: -1,
            replication_factor: -1,
            configs: Vec::new(),
        })
        .collect();
    let request = ShardRequest::Control(ControlRequest::CreateTopics {
        topics,
        validate_only: false,
    });
    match ctx.mesh.call(ctx.plan.control_shard(), request).await {
        Ok(ShardReply::Control(ControlReply::CreatedTopics(results))) => {
            for (name, result) in names.iter().zip(results) {
                match result {
                    // The control shard logs the creation itself ("topic created").
                    Ok(_) => tracing::debug!(topic = %name, "topic auto-created"),
                    Err(error) => tracing::debug!(topic = %name, %error, "auto-creation refused"),
                }
            }
        }
        _ => tracing::warn!("controller unavailable for topic auto-creation"),
    }
}

fn describe(topic: &TopicImage, node: BrokerId) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(Uuid::from_bytes(topic.topic_id))
        .with_partitions(partitions)
        .with_is_internal(crate::offsets_topic::is_internal(&topic.name))
        .with_topic_authorized_operations(i32::MIN)
}

fn error_topic(name: Option<&str>, error: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name.map(topic_name))
        .with_topic_authorized_operations(i32::MIN)
}
