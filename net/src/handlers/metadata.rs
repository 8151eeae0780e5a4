//! Metadata: brokers, the controller and topics with their partitions;
//! creates unknown topics when auto-creation is on and the request allows it.
//! With an authorizer, as in Kafka: topics the caller may not DESCRIBE are
//! left out of an all-topics answer and answered TOPIC_AUTHORIZATION_FAILED
//! when named (without saying whether they exist); auto-creation needs
//! CREATE on the cluster or on the topic.

use kafka_protocol::messages::metadata_request::MetadataRequest;
use kafka_protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::BrokerId;
use skein_controller::{
    validate_topic_name, AclOperation, MetadataImage, ResourceType, TopicImage,
};
use uuid::Uuid;

use super::{str_bytes, topic_name};
use crate::authorized_operations;
use crate::caller::Caller;
use crate::cluster_view;
use crate::error_code::ErrorCode;
use crate::listener::ListenerEndpoint;
use crate::shard_message::{ControlReply, ControlRequest, NewTopic, ShardReply, ShardRequest};
use crate::shard_state::ShardState;

/// Answers a Metadata request of `version` from a client of `listener`.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    listener: &ListenerEndpoint,
    request: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let all_topics = match &request.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    };
    let mut topics = Vec::new();
    if all_topics {
        let image = ctx.image();
        topics.extend(
            image
                .topics()
                .filter(|topic| caller.may_on_topic(AclOperation::Describe, &topic.name))
                .map(|topic| describe(&image, topic)),
        );
    } else {
        let requested = request.topics.unwrap_or_default();
        let auto_create =
            ctx.config.auto_create_topics() && (version < 4 || request.allow_auto_topic_creation);
        let mut missing = Vec::new();
        let may_create_any = caller.may_on_cluster(AclOperation::Create);
        for wanted in &requested {
            let image = ctx.image();
            match &wanted.name {
                Some(name) if !caller.may_on_topic(AclOperation::Describe, name) => {
                    topics.push(error_topic(
                        Some(name.as_str()),
                        ErrorCode::TopicAuthorizationFailed,
                    ));
                }
                Some(name) => {
                    if validate_topic_name(name).is_err() {
                        topics.push(error_topic(
                            Some(name.as_str()),
                            ErrorCode::InvalidTopicException,
                        ));
                    } else if let Some(topic) = image.topic(name) {
                        topics.push(describe(&image, topic));
                    } else if auto_create
                        && !may_create_any
                        && !caller.may_on_topic(AclOperation::Create, name)
                    {
                        topics.push(error_topic(
                            Some(name.as_str()),
                            ErrorCode::TopicAuthorizationFailed,
                        ));
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
                    // Topic ids are not secret: Kafka says which is refused.
                    Some(topic) if !caller.may_on_topic(AclOperation::Describe, &topic.name) => {
                        let mut refused = error_topic(None, ErrorCode::TopicAuthorizationFailed);
                        refused.topic_id = wanted.topic_id;
                        topics.push(refused);
                    }
                    Some(topic) => topics.push(describe(&image, topic)),
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
                    Some(topic) => describe(&image, topic),
                    None => error_topic(Some(&name), ErrorCode::LeaderNotAvailable),
                });
            }
        }
    }
    if request.include_topic_authorized_operations {
        for topic in topics.iter_mut().filter(|topic| topic.error_code == 0) {
            let name = topic.name.as_ref().map_or("", |name| name.as_str());
            topic.topic_authorized_operations = caller.authorized_operations(
                authorized_operations::TOPIC,
                ResourceType::Topic,
                name,
            );
        }
    }
    let image = ctx.image();
    let brokers = cluster_view::live_brokers(ctx, &image, listener)
        .into_iter()
        .map(|broker| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(broker.broker_id))
                .with_host(str_bytes(&broker.host))
                .with_port(i32::from(broker.port))
                .with_rack(broker.rack.as_deref().map(str_bytes))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(str_bytes(&ctx.cluster_id)))
        .with_controller_id(BrokerId(cluster_view::controller_id(ctx, &image)))
        .with_topics(topics)
        .with_cluster_authorized_operations(authorized_operations::if_asked(
            request.include_cluster_authorized_operations
                && caller.may_on_cluster(AclOperation::Describe),
            caller.authorized_operations(
                authorized_operations::CLUSTER,
                ResourceType::Cluster,
                skein_controller::CLUSTER_RESOURCE_NAME,
            ),
        ))
}

async fn auto_create_topics(ctx: &ShardState, names: &[String]) {
    let topics = names
        .iter()
        .map(|name| NewTopic {
            name: name.clone(),
            partitions: -1,
            replication_factor: -1,
            configs: Vec::new(),
            assignments: Vec::new(),
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

/// A topic's partitions as the image has them: leader (none: error
/// LEADER_NOT_AVAILABLE), leader epoch, replicas, ISR, and the replicas on
/// brokers that are not live.
fn describe(image: &MetadataImage, topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partition_states()
        .map(|(index, state)| {
            let brokers = |ids: &[i32]| ids.iter().copied().map(BrokerId).collect::<Vec<_>>();
            let offline: Vec<i32> = state
                .replicas
                .iter()
                .copied()
                .filter(|replica| !image.is_live(*replica) && *replica != image.local_broker_id())
                .collect();
            let error = if state.is_online() {
                0
            } else {
                ErrorCode::LeaderNotAvailable.code()
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(index)
                .with_leader_id(BrokerId(state.leader))
                .with_leader_epoch(state.leader_epoch)
                .with_replica_nodes(brokers(&state.replicas))
                .with_isr_nodes(brokers(&state.isr))
                .with_offline_replicas(brokers(&offline))
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(Uuid::from_bytes(topic.topic_id))
        .with_partitions(partitions)
        .with_is_internal(crate::offsets_topic::is_internal(&topic.name))
        .with_topic_authorized_operations(authorized_operations::OMITTED)
}

fn error_topic(name: Option<&str>, error: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name.map(topic_name))
        .with_topic_authorized_operations(authorized_operations::OMITTED)
}
