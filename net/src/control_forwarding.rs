//! Forwarding a metadata change to the active controller. A node that is
//! not the active controller (a follower voter, a broker-only node) sends
//! each [`ControlRequest`] a client asked it for to the active controller
//! as the Kafka admin request that carries it (CreateTopics, DeleteTopics,
//! CreatePartitions, IncrementalAlterConfigs / AlterConfigs, ElectLeaders,
//! DescribeQuorum, AlterUserScramCredentials, CreateAcls, DeleteAcls,
//! AlterPartitionReassignments), on the controller listener: the requests a KRaft
//! controller serves there too. The controller turns it back into the same
//! [`ControlRequest`], makes the change, and answers with Kafka's response,
//! which the forwarding node turns back into the [`ControlReply`] its
//! handlers expect; a refusal keeps the controller's error code and
//! message ([`ControlError::Remote`]).
//!
//! Both directions are pure conversions here; the IO is the caller's.

use kafka_protocol::messages::alter_configs_request::{
    AlterConfigsRequest, AlterConfigsResource as ReplaceResource, AlterableConfig as ReplaceConfig,
};
use kafka_protocol::messages::alter_configs_response::{
    AlterConfigsResourceResponse as ReplacedResource, AlterConfigsResponse,
};
use kafka_protocol::messages::alter_partition_reassignments_request::AlterPartitionReassignmentsRequest;
use kafka_protocol::messages::alter_partition_reassignments_response::AlterPartitionReassignmentsResponse;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    AlterUserScramCredentialsRequest, ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResponse;
use kafka_protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use kafka_protocol::messages::create_acls_response::CreateAclsResponse;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::{
    CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicResult, CreateTopicsResponse,
};
use kafka_protocol::messages::delete_acls_request::{DeleteAclsFilter, DeleteAclsRequest};
use kafka_protocol::messages::delete_acls_response::DeleteAclsResponse;
use kafka_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use kafka_protocol::messages::delete_topics_response::{
    DeletableTopicResult, DeleteTopicsResponse,
};
use kafka_protocol::messages::describe_quorum_request::{
    DescribeQuorumRequest, PartitionData as QuorumPartition, TopicData as QuorumTopic,
};
use kafka_protocol::messages::describe_quorum_response::{
    DescribeQuorumResponse, PartitionData as QuorumPartitionData, ReplicaState as QuorumReplica,
    TopicData as QuorumTopicData,
};
use kafka_protocol::messages::elect_leaders_request::{ElectLeadersRequest, TopicPartitions};
use kafka_protocol::messages::elect_leaders_response::{
    ElectLeadersResponse, PartitionResult, ReplicaElectionResult,
};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use kafka_protocol::messages::incremental_alter_configs_response::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsResponse,
};
use kafka_protocol::messages::{ApiKey, BrokerId};
use kafka_protocol::protocol::StrBytes;
use skein_controller::quorum::{QuorumNodeId, QuorumStatus, ReplicaState};
use uuid::Uuid;

use crate::controller_client::{ControllerCallError, ControllerConnection};
use crate::error_code::ErrorCode;
use crate::handlers::describe_quorum::CLUSTER_METADATA_TOPIC;
use crate::handlers::{message, str_bytes, topic_name};
use crate::shard_message::{
    ControlError, ControlReply, ControlRequest, CreatedTopic, ElectionOutcome, ElectionType,
    NewPartitions, NewTopic, TopicConfigChange, TopicRef,
};

/// CreateTopics version used between Skein nodes (topic ids in results).
pub const CREATE_TOPICS_VERSION: i16 = 7;
/// DeleteTopics version used between Skein nodes (topics by id).
pub const DELETE_TOPICS_VERSION: i16 = 6;
/// CreatePartitions version used between Skein nodes.
pub const CREATE_PARTITIONS_VERSION: i16 = 3;
/// IncrementalAlterConfigs version used between Skein nodes.
pub const INCREMENTAL_ALTER_CONFIGS_VERSION: i16 = 1;
/// AlterConfigs version used between Skein nodes.
pub const ALTER_CONFIGS_VERSION: i16 = 2;
/// ElectLeaders version used between Skein nodes (election type).
pub const ELECT_LEADERS_VERSION: i16 = 2;
/// DescribeQuorum version used between Skein nodes.
pub const DESCRIBE_QUORUM_VERSION: i16 = 1;
/// AlterUserScramCredentials version used between Skein nodes.
pub const ALTER_USER_SCRAM_CREDENTIALS_VERSION: i16 = 0;
/// CreateAcls version used between Skein nodes.
pub const CREATE_ACLS_VERSION: i16 = 3;
/// DeleteAcls version used between Skein nodes.
pub const DELETE_ACLS_VERSION: i16 = 3;
/// AlterPartitionReassignments version used between Skein nodes
/// (allow_replication_factor_change).
pub const ALTER_PARTITION_REASSIGNMENTS_VERSION: i16 = 1;

/// Kafka's config resource type of a topic.
const TOPIC_RESOURCE: i8 = 2;
/// IncrementalAlterConfigs operations: set a value, delete an override.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

/// A forwarded metadata change as it arrives on the controller listener.
#[derive(Debug)]
pub enum ForwardedRequest {
    /// CreateTopics.
    CreateTopics(CreateTopicsRequest),
    /// DeleteTopics.
    DeleteTopics(DeleteTopicsRequest),
    /// CreatePartitions.
    CreatePartitions(CreatePartitionsRequest),
    /// IncrementalAlterConfigs on topics.
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest),
    /// AlterConfigs on topics (every override replaced).
    AlterConfigs(AlterConfigsRequest),
    /// ElectLeaders.
    ElectLeaders(ElectLeadersRequest),
    /// DescribeQuorum.
    DescribeQuorum(DescribeQuorumRequest),
    /// AlterUserScramCredentials.
    AlterUserScramCredentials(AlterUserScramCredentialsRequest),
    /// CreateAcls.
    CreateAcls(CreateAclsRequest),
    /// DeleteAcls.
    DeleteAcls(DeleteAclsRequest),
    /// AlterPartitionReassignments.
    AlterPartitionReassignments(AlterPartitionReassignmentsRequest),
}

/// The controller's answer to a [`ForwardedRequest`].
#[derive(Debug)]
pub enum ForwardedResponse {
    /// To CreateTopics.
    CreateTopics(CreateTopicsResponse),
    /// To DeleteTopics.
    DeleteTopics(DeleteTopicsResponse),
    /// To CreatePartitions.
    CreatePartitions(CreatePartitionsResponse),
    /// To IncrementalAlterConfigs.
    IncrementalAlterConfigs(IncrementalAlterConfigsResponse),
    /// To AlterConfigs.
    AlterConfigs(AlterConfigsResponse),
    /// To ElectLeaders.
    ElectLeaders(ElectLeadersResponse),
    /// To DescribeQuorum.
    DescribeQuorum(DescribeQuorumResponse),
    /// To AlterUserScramCredentials.
    AlterUserScramCredentials(AlterUserScramCredentialsResponse),
    /// To CreateAcls.
    CreateAcls(CreateAclsResponse),
    /// To DeleteAcls.
    DeleteAcls(DeleteAclsResponse),
    /// To AlterPartitionReassignments.
    AlterPartitionReassignments(AlterPartitionReassignmentsResponse),
}

/// The API key and version `api_key` is forwarded at, if it is one of the
/// forwarded APIs.
pub fn forwarded_version(api_key: ApiKey) -> Option<i16> {
    match api_key {
        ApiKey::CreateTopics => Some(CREATE_TOPICS_VERSION),
        ApiKey::DeleteTopics => Some(DELETE_TOPICS_VERSION),
        ApiKey::CreatePartitions => Some(CREATE_PARTITIONS_VERSION),
        ApiKey::IncrementalAlterConfigs => Some(INCREMENTAL_ALTER_CONFIGS_VERSION),
        ApiKey::AlterConfigs => Some(ALTER_CONFIGS_VERSION),
        ApiKey::ElectLeaders => Some(ELECT_LEADERS_VERSION),
        ApiKey::DescribeQuorum => Some(DESCRIBE_QUORUM_VERSION),
        ApiKey::AlterUserScramCredentials => Some(ALTER_USER_SCRAM_CREDENTIALS_VERSION),
        ApiKey::CreateAcls => Some(CREATE_ACLS_VERSION),
        ApiKey::DeleteAcls => Some(DELETE_ACLS_VERSION),
        ApiKey::AlterPartitionReassignments => Some(ALTER_PARTITION_REASSIGNMENTS_VERSION),
        _ => None,
    }
}

/// Why a change could not be forwarded.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The controller could not be reached or answered badly.
    #[error(transparent)]
    Call(#[from] ControllerCallError),
    /// A change that only the active controller's own duties make
    /// (producer ids travel as AllocateProducerIds; an online election is
    /// never asked for by a client).
    #[error("this change is not forwarded")]
    NotForwarded,
    /// AlterConfigs and IncrementalAlterConfigs changes mixed in one
    /// request (a bug of the caller).
    #[error("one request mixes replacing and incremental config changes")]
    MixedConfigChanges,
}

/// Sends `request` to the active controller on `connection` and returns
/// its answer as the control shard would have given it.
///
/// # Errors
/// [`ForwardError`] when nothing was answered; the change may or may not
/// have been made (as with a client's own timeout).
pub async fn forward(
    connection: &mut ControllerConnection,
    request: &ControlRequest,
) -> Result<ControlReply, ForwardError> {
    Ok(match request {
        ControlRequest::CreateTopics {
            topics,
            validate_only,
        } => {
            let response: CreateTopicsResponse = connection
                .call(
                    ApiKey::CreateTopics,
                    CREATE_TOPICS_VERSION,
                    &create_topics_request(topics, *validate_only),
                )
                .await?;
            ControlReply::CreatedTopics(created_topics(topics.len(), response))
        }
        ControlRequest::DeleteTopics { topics } => {
            let response: DeleteTopicsResponse = connection
                .call(
                    ApiKey::DeleteTopics,
                    DELETE_TOPICS_VERSION,
                    &delete_topics_request(topics),
                )
                .await?;
            ControlReply::DeletedTopics(deleted_topics(topics.len(), response))
        }
        ControlRequest::CreatePartitions {
            topics,
            validate_only,
        } => {
            let response: CreatePartitionsResponse = connection
                .call(
                    ApiKey::CreatePartitions,
                    CREATE_PARTITIONS_VERSION,
                    &create_partitions_request(topics, *validate_only),
                )
                .await?;
            ControlReply::CreatedPartitions(ordered(
                topics.len(),
                response
                    .results
                    .into_iter()
                    .map(|r| outcome(r.error_code, r.error_message)),
            ))
        }
        ControlRequest::AlterTopicConfigs {
            changes,
            validate_only,
        } => {
            let replacing = changes.iter().filter(|change| change.replace_all).count();
            let results = if replacing == 0 {
                let response: IncrementalAlterConfigsResponse = connection
                    .call(
                        ApiKey::IncrementalAlterConfigs,
                        INCREMENTAL_ALTER_CONFIGS_VERSION,
                        &incremental_alter_configs_request(changes, *validate_only),
                    )
                    .await?;
                response
                    .responses
                    .into_iter()
                    .map(|r| outcome(r.error_code, r.error_message))
                    .collect::<Vec<_>>()
            } else if replacing == changes.len() {
                let response: AlterConfigsResponse = connection
                    .call(
                        ApiKey::AlterConfigs,
                        ALTER_CONFIGS_VERSION,
                        &alter_configs_request(changes, *validate_only),
                    )
                    .await?;
                response
                    .responses
                    .into_iter()
                    .map(|r| outcome(r.error_code, r.error_message))
                    .collect()
            } else {
                return Err(ForwardError::MixedConfigChanges);
            };
            ControlReply::AlteredConfigs(ordered(changes.len(), results.into_iter()))
        }
        ControlRequest::ElectLeaders {
            election_type,
            partitions,
        } => {
            let request = elect_leaders_request(*election_type, partitions.as_deref())
                .ok_or(ForwardError::NotForwarded)?;
            let response: ElectLeadersResponse = connection
                .call(ApiKey::ElectLeaders, ELECT_LEADERS_VERSION, &request)
                .await?;
            ControlReply::ElectedLeaders(elected_leaders(response))
        }
        ControlRequest::AlterPartitionReassignments {
            reassignments,
            allow_replication_factor_change,
        } => {
            let request = crate::handlers::alter_partition_reassignments::kafka_request(
                reassignments,
                *allow_replication_factor_change,
                FORWARD_TIMEOUT_MS,
            );
            let response: AlterPartitionReassignmentsResponse = connection
                .call(
                    ApiKey::AlterPartitionReassignments,
                    ALTER_PARTITION_REASSIGNMENTS_VERSION,
                    &request,
                )
                .await?;
            crate::handlers::alter_partition_reassignments::control_reply(
                reassignments.len(),
                response,
            )
        }
        ControlRequest::DescribeQuorum => {
            let response: DescribeQuorumResponse = connection
                .call(
                    ApiKey::DescribeQuorum,
                    DESCRIBE_QUORUM_VERSION,
                    &describe_quorum_request(),
                )
                .await?;
            ControlReply::Quorum(quorum_status(response))
        }
        ControlRequest::AlterUserScramCredentials {
            deletions,
            upsertions,
        } => {
            let request = AlterUserScramCredentialsRequest::default()
                .with_deletions(
                    deletions
                        .iter()
                        .map(|d| {
                            ScramCredentialDeletion::default()
                                .with_name(str_bytes(&d.name))
                                .with_mechanism(d.mechanism)
                        })
                        .collect(),
                )
                .with_upsertions(
                    upsertions
                        .iter()
                        .map(|u| {
                            ScramCredentialUpsertion::default()
                                .with_name(str_bytes(&u.name))
                                .with_mechanism(u.mechanism)
                                .with_iterations(u.iterations)
                                .with_salt(bytes::Bytes::from(u.salt.clone()))
                                .with_salted_password(bytes::Bytes::from(u.salted_password.clone()))
                        })
                        .collect(),
                );
            let response: AlterUserScramCredentialsResponse = connection
                .call(
                    ApiKey::AlterUserScramCredentials,
                    ALTER_USER_SCRAM_CREDENTIALS_VERSION,
                    &request,
                )
                .await?;
            ControlReply::AlteredScramCredentials(
                response
                    .results
                    .into_iter()
                    .map(|r| (r.user.to_string(), outcome(r.error_code, r.error_message)))
                    .collect(),
            )
        }
        ControlRequest::CreateAcls { creations } => {
            // Only valid codes are forwarded; refusals stay here, in order.
            let request = CreateAclsRequest::default().with_creations(
                creations
                    .iter()
                    .filter_map(|c| c.as_ref().ok())
                    .map(|b| {
                        AclCreation::default()
                            .with_resource_type(b.resource_type.code())
                            .with_resource_name(str_bytes(&b.resource_name))
                            .with_resource_pattern_type(b.pattern_type.code())
                            .with_principal(str_bytes(&b.principal))
                            .with_host(str_bytes(&b.host))
                            .with_operation(b.operation.code())
                            .with_permission_type(b.permission.code())
                    })
                    .collect(),
            );
            let response: CreateAclsResponse = connection
                .call(ApiKey::CreateAcls, CREATE_ACLS_VERSION, &request)
                .await?;
            let mut remote = response.results.into_iter();
            ControlReply::CreatedAcls(
                creations
                    .iter()
                    .map(|c| match c {
                        Err(error) => Err(crate::handlers::create_acls::refused(error.clone())),
                        Ok(_) => match remote.next() {
                            Some(r) => outcome(r.error_code, r.error_message),
                            None => Err(ControlError::Unavailable),
                        },
                    })
                    .collect(),
            )
        }
        ControlRequest::DeleteAcls { filters } => {
            let request = DeleteAclsRequest::default().with_filters(
                filters
                    .iter()
                    .filter_map(|f| f.as_ref().ok())
                    .map(|f| {
                        DeleteAclsFilter::default()
                            .with_resource_type_filter(f.resource_type.code())
                            .with_resource_name_filter(f.resource_name.as_deref().map(str_bytes))
                            .with_pattern_type_filter(f.pattern_type.code())
                            .with_principal_filter(f.principal.as_deref().map(str_bytes))
                            .with_host_filter(f.host.as_deref().map(str_bytes))
                            .with_operation(f.operation.code())
                            .with_permission_type(f.permission.code())
                    })
                    .collect(),
            );
            let response: DeleteAclsResponse = connection
                .call(ApiKey::DeleteAcls, DELETE_ACLS_VERSION, &request)
                .await?;
            let mut remote = response.filter_results.into_iter();
            ControlReply::DeletedAcls(
                filters
                    .iter()
                    .map(|f| match f {
                        Err(error) => Err(crate::handlers::create_acls::refused(error.clone())),
                        Ok(_) => match remote.next() {
                            Some(r) => outcome(r.error_code, r.error_message).map(|()| {
                                r.matching_acls
                                    .iter()
                                    .filter_map(crate::handlers::delete_acls::removed_binding)
                                    .collect()
                            }),
                            None => Err(ControlError::Unavailable),
                        },
                    })
                    .collect(),
            )
        }
        ControlRequest::AllocateProducerId => return Err(ForwardError::NotForwarded),
    })
}

/// The change a forwarded request asks the active controller for.
pub fn control_request(request: &ForwardedRequest) -> ControlRequest {
    match request {
        ForwardedRequest::CreateTopics(request) => ControlRequest::CreateTopics {
            topics: request
                .topics
                .iter()
                .map(|topic| NewTopic {
                    name: topic.name.to_string(),
                    partitions: topic.num_partitions,
                    replication_factor: topic.replication_factor,
                    // A null value is never forwarded; as an empty one,
                    // the controller's config rules judge it.
                    configs: topic
                        .configs
                        .iter()
                        .map(|config| {
                            let value = config.value.as_deref().unwrap_or_default();
                            (config.name.to_string(), value.to_string())
                        })
                        .collect(),
                    assignments: crate::handlers::create_topics::manual_assignments(topic),
                })
                .collect(),
            validate_only: request.validate_only,
        },
        ForwardedRequest::DeleteTopics(request) => ControlRequest::DeleteTopics {
            topics: request
                .topics
                .iter()
                .map(|topic| match &topic.name {
                    Some(name) => TopicRef::Name(name.to_string()),
                    None => TopicRef::Id(*topic.topic_id.as_bytes()),
                })
                .collect(),
        },
        ForwardedRequest::CreatePartitions(request) => ControlRequest::CreatePartitions {
            topics: request
                .topics
                .iter()
                .map(crate::handlers::create_partitions::new_partitions)
                .collect(),
            validate_only: request.validate_only,
        },
        ForwardedRequest::IncrementalAlterConfigs(request) => ControlRequest::AlterTopicConfigs {
            changes: request
                .resources
                .iter()
                .map(|resource| TopicConfigChange {
                    topic: resource.resource_name.to_string(),
                    replace_all: false,
                    ops: resource
                        .configs
                        .iter()
                        .map(|config| {
                            let value = (config.config_operation != OP_DELETE)
                                .then(|| config.value.as_deref().unwrap_or_default().to_string());
                            (config.name.to_string(), value)
                        })
                        .collect(),
                })
                .collect(),
            validate_only: request.validate_only,
        },
        ForwardedRequest::AlterConfigs(request) => ControlRequest::AlterTopicConfigs {
            changes: request
                .resources
                .iter()
                .map(|resource| TopicConfigChange {
                    topic: resource.resource_name.to_string(),
                    replace_all: true,
                    ops: resource
                        .configs
                        .iter()
                        .map(|config| {
                            let value = config.value.as_deref().map(str::to_string);
                            (config.name.to_string(), value)
                        })
                        .collect(),
                })
                .collect(),
            validate_only: request.validate_only,
        },
        ForwardedRequest::ElectLeaders(request) => ControlRequest::ElectLeaders {
            election_type: if request.election_type == 1 {
                ElectionType::Unclean
            } else {
                ElectionType::Preferred
            },
            partitions: request.topic_partitions.as_ref().map(|topics| {
                topics
                    .iter()
                    .map(|topic| (topic.topic.to_string(), topic.partitions.clone()))
                    .collect()
            }),
        },
        ForwardedRequest::DescribeQuorum(_) => ControlRequest::DescribeQuorum,
        ForwardedRequest::AlterUserScramCredentials(request) => {
            crate::handlers::alter_user_scram_credentials::control_request(request)
        }
        ForwardedRequest::CreateAcls(request) => {
            crate::handlers::create_acls::control_request(request)
        }
        ForwardedRequest::AlterPartitionReassignments(request) => {
            crate::handlers::alter_partition_reassignments::control_request(
                request,
                ALTER_PARTITION_REASSIGNMENTS_VERSION,
            )
        }
        ForwardedRequest::DeleteAcls(request) => {
            crate::handlers::delete_acls::control_request(request)
        }
    }
}

/// The Kafka response that carries `reply` back to the forwarding node.
/// `request` is what it answers (names for per-item results).
pub fn forwarded_response(request: &ForwardedRequest, reply: ControlReply) -> ForwardedResponse {
    match (request, reply) {
        (ForwardedRequest::CreateTopics(request), ControlReply::CreatedTopics(results)) => {
            let topics = request
                .topics
                .iter()
                .zip(results)
                .map(|(topic, result)| {
                    let base = CreatableTopicResult::default().with_name(topic.name.clone());
                    match result {
                        Ok(created) => base
                            .with_topic_id(Uuid::from_bytes(created.topic_id))
                            .with_num_partitions(created.partitions)
                            .with_replication_factor(created.replication_factor),
                        Err(error) => base
                            .with_error_code(error.code().code())
                            .with_error_message(message(&error))
                            .with_num_partitions(-1)
                            .with_replication_factor(-1),
                    }
                })
                .collect();
            ForwardedResponse::CreateTopics(CreateTopicsResponse::default().with_topics(topics))
        }
        (ForwardedRequest::DeleteTopics(request), ControlReply::DeletedTopics(results)) => {
            let responses = request
                .topics
                .iter()
                .zip(results)
                .map(|(topic, result)| match result {
                    Ok((name, id)) => DeletableTopicResult::default()
                        .with_name(Some(topic_name(&name)))
                        .with_topic_id(Uuid::from_bytes(id)),
                    Err(error) => DeletableTopicResult::default()
                        .with_name(topic.name.clone())
                        .with_topic_id(topic.topic_id)
                        .with_error_code(error.code().code())
                        .with_error_message(message(&error)),
                })
                .collect();
            ForwardedResponse::DeleteTopics(
                DeleteTopicsResponse::default().with_responses(responses),
            )
        }
        (ForwardedRequest::CreatePartitions(request), ControlReply::CreatedPartitions(results)) => {
            let results = request
                .topics
                .iter()
                .zip(results)
                .map(|(topic, result)| {
                    let (code, text) = refusal(result);
                    CreatePartitionsTopicResult::default()
                        .with_name(topic.name.clone())
                        .with_error_code(code)
                        .with_error_message(text)
                })
                .collect();
            ForwardedResponse::CreatePartitions(
                CreatePartitionsResponse::default().with_results(results),
            )
        }
        (
            ForwardedRequest::IncrementalAlterConfigs(request),
            ControlReply::AlteredConfigs(results),
        ) => {
            let responses = request
                .resources
                .iter()
                .zip(results)
                .map(|(resource, result)| {
                    let (code, text) = refusal(result);
                    AlterConfigsResourceResponse::default()
                        .with_error_code(code)
                        .with_error_message(text)
                        .with_resource_type(resource.resource_type)
                        .with_resource_name(resource.resource_name.clone())
                })
                .collect();
            ForwardedResponse::IncrementalAlterConfigs(
                IncrementalAlterConfigsResponse::default().with_responses(responses),
            )
        }
        (ForwardedRequest::AlterConfigs(request), ControlReply::AlteredConfigs(results)) => {
            let responses = request
                .resources
                .iter()
                .zip(results)
                .map(|(resource, result)| {
                    let (code, text) = refusal(result);
                    ReplacedResource::default()
                        .with_error_code(code)
                        .with_error_message(text)
                        .with_resource_type(resource.resource_type)
                        .with_resource_name(resource.resource_name.clone())
                })
                .collect();
            ForwardedResponse::AlterConfigs(
                AlterConfigsResponse::default().with_responses(responses),
            )
        }
        (ForwardedRequest::ElectLeaders(_), ControlReply::ElectedLeaders(outcomes)) => {
            ForwardedResponse::ElectLeaders(election_response(outcomes))
        }
        (ForwardedRequest::DescribeQuorum(_), ControlReply::Quorum(status)) => {
            ForwardedResponse::DescribeQuorum(describe_quorum_response(status))
        }
        (
            ForwardedRequest::AlterUserScramCredentials(_),
            reply @ ControlReply::AlteredScramCredentials(_),
        ) => ForwardedResponse::AlterUserScramCredentials(
            crate::handlers::alter_user_scram_credentials::response(reply),
        ),
        (ForwardedRequest::CreateAcls(_), reply @ ControlReply::CreatedAcls(_)) => {
            ForwardedResponse::CreateAcls(crate::handlers::create_acls::response(reply))
        }
        (ForwardedRequest::DeleteAcls(_), reply @ ControlReply::DeletedAcls(_)) => {
            ForwardedResponse::DeleteAcls(crate::handlers::delete_acls::response(reply))
        }
        (
            ForwardedRequest::AlterPartitionReassignments(request),
            reply @ ControlReply::AlteredPartitionReassignments(_),
        ) => ForwardedResponse::AlterPartitionReassignments(
            crate::handlers::alter_partition_reassignments::response(request, reply),
        ),
        (request, _) => {
            // The control shard answers each request with its own reply
            // kind; anything else is a bug, answered as unavailable.
            tracing::error!(
                ?request,
                "control reply of another kind: answered unavailable"
            );
            unavailable_response(request)
        }
    }
}

/// Every item of `request` refused as unavailable.
fn unavailable_response(request: &ForwardedRequest) -> ForwardedResponse {
    let reply = match request {
        ForwardedRequest::CreateTopics(r) => ControlReply::CreatedTopics(
            r.topics
                .iter()
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        ),
        ForwardedRequest::DeleteTopics(r) => ControlReply::DeletedTopics(
            r.topics
                .iter()
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        ),
        ForwardedRequest::CreatePartitions(r) => ControlReply::CreatedPartitions(
            r.topics
                .iter()
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        ),
        ForwardedRequest::IncrementalAlterConfigs(r) => ControlReply::AlteredConfigs(
            r.resources
                .iter()
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        ),
        ForwardedRequest::AlterConfigs(r) => ControlReply::AlteredConfigs(
            r.resources
                .iter()
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        ),
        ForwardedRequest::ElectLeaders(_) => {
            ControlReply::ElectedLeaders(Err(ControlError::Unavailable))
        }
        ForwardedRequest::DescribeQuorum(_) => ControlReply::Quorum(Err(ControlError::Unavailable)),
        ForwardedRequest::AlterUserScramCredentials(_) => {
            ControlReply::AlteredScramCredentials(Vec::new())
        }
        ForwardedRequest::CreateAcls(r) => ControlReply::CreatedAcls(
            r.creations
                .iter()
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        ),
        ForwardedRequest::DeleteAcls(r) => ControlReply::DeletedAcls(
            r.filters
                .iter()
                .map(|_| Err(ControlError::Unavailable))
                .collect(),
        ),
        ForwardedRequest::AlterPartitionReassignments(r) => {
            ControlReply::AlteredPartitionReassignments(
                r.topics
                    .iter()
                    .flat_map(|topic| &topic.partitions)
                    .map(|_| Err(ControlError::Unavailable))
                    .collect(),
            )
        }
    };
    forwarded_response(request, reply)
}

fn create_topics_request(topics: &[NewTopic], validate_only: bool) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|topic| {
                    CreatableTopic::default()
                        .with_name(topic_name(&topic.name))
                        .with_num_partitions(topic.partitions)
                        .with_replication_factor(topic.replication_factor)
                        .with_configs(
                            topic
                                .configs
                                .iter()
                                .map(|(name, value)| {
                                    CreatableTopicConfig::default()
                                        .with_name(str_bytes(name))
                                        .with_value(Some(str_bytes(value)))
                                })
                                .collect(),
                        )
                        .with_assignments(
                            topic
                                .assignments
                                .iter()
                                .map(|(partition, brokers)| {
                                    CreatableReplicaAssignment::default()
                                        .with_partition_index(*partition)
                                        .with_broker_ids(to_broker_ids(brokers))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_timeout_ms(FORWARD_TIMEOUT_MS)
        .with_validate_only(validate_only)
}

fn delete_topics_request(topics: &[TopicRef]) -> DeleteTopicsRequest {
    DeleteTopicsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|topic| match topic {
                    TopicRef::Name(name) => {
                        DeleteTopicState::default().with_name(Some(topic_name(name)))
                    }
                    TopicRef::Id(id) => DeleteTopicState::default()
                        .with_name(None)
                        .with_topic_id(Uuid::from_bytes(*id)),
                })
                .collect(),
        )
        .with_timeout_ms(FORWARD_TIMEOUT_MS)
}

fn create_partitions_request(
    topics: &[NewPartitions],
    validate_only: bool,
) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|grow| {
                    CreatePartitionsTopic::default()
                        .with_name(topic_name(&grow.name))
                        .with_count(grow.count)
                        .with_assignments(grow.assignments.as_ref().map(|lists| {
                            lists
                                .iter()
                                .map(|brokers| {
                                    CreatePartitionsAssignment::default()
                                        .with_broker_ids(to_broker_ids(brokers))
                                })
                                .collect()
                        }))
                })
                .collect(),
        )
        .with_timeout_ms(FORWARD_TIMEOUT_MS)
        .with_validate_only(validate_only)
}

fn to_broker_ids(brokers: &[i32]) -> Vec<BrokerId> {
    brokers.iter().copied().map(BrokerId).collect()
}

fn incremental_alter_configs_request(
    changes: &[TopicConfigChange],
    validate_only: bool,
) -> IncrementalAlterConfigsRequest {
    IncrementalAlterConfigsRequest::default()
        .with_resources(
            changes
                .iter()
                .map(|change| {
                    AlterConfigsResource::default()
                        .with_resource_type(TOPIC_RESOURCE)
                        .with_resource_name(str_bytes(&change.topic))
                        .with_configs(
                            change
                                .ops
                                .iter()
                                .map(|(name, value)| {
                                    AlterableConfig::default()
                                        .with_name(str_bytes(name))
                                        .with_config_operation(if value.is_some() {
                                            OP_SET
                                        } else {
                                            OP_DELETE
                                        })
                                        .with_value(value.as_deref().map(str_bytes))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_validate_only(validate_only)
}

fn alter_configs_request(
    changes: &[TopicConfigChange],
    validate_only: bool,
) -> AlterConfigsRequest {
    AlterConfigsRequest::default()
        .with_resources(
            changes
                .iter()
                .map(|change| {
                    ReplaceResource::default()
                        .with_resource_type(TOPIC_RESOURCE)
                        .with_resource_name(str_bytes(&change.topic))
                        .with_configs(
                            change
                                .ops
                                .iter()
                                .map(|(name, value)| {
                                    ReplaceConfig::default()
                                        .with_name(str_bytes(name))
                                        .with_value(value.as_deref().map(str_bytes))
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
        .with_validate_only(validate_only)
}

/// `None` for an online election, which only the controller itself runs.
fn elect_leaders_request(
    election_type: ElectionType,
    partitions: Option<&[(String, Vec<i32>)]>,
) -> Option<ElectLeadersRequest> {
    let election_type = match election_type {
        ElectionType::Preferred => 0,
        ElectionType::Unclean => 1,
        ElectionType::Online => return None,
    };
    let topic_partitions = partitions.map(|topics| {
        topics
            .iter()
            .map(|(name, indexes)| {
                TopicPartitions::default()
                    .with_topic(topic_name(name))
                    .with_partitions(indexes.clone())
            })
            .collect()
    });
    Some(
        ElectLeadersRequest::default()
            .with_election_type(election_type)
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(FORWARD_TIMEOUT_MS),
    )
}

fn describe_quorum_request() -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![QuorumTopic::default()
        .with_topic_name(topic_name(CLUSTER_METADATA_TOPIC))
        .with_partitions(vec![QuorumPartition::default().with_partition_index(0)])])
}

/// The timeout a forwarded request carries (Kafka's admin default).
const FORWARD_TIMEOUT_MS: i32 = 30_000;

/// The controller's refusal `code` with its message, or success: for the
/// handlers that convert their own forwarded responses.
pub(crate) fn remote_outcome(code: i16, text: Option<StrBytes>) -> Result<(), ControlError> {
    outcome(code, text)
}

/// The controller's refusal `code` with its message, or success.
fn outcome(code: i16, text: Option<StrBytes>) -> Result<(), ControlError> {
    if code == ErrorCode::None.code() {
        return Ok(());
    }
    Err(ControlError::Remote {
        code: ErrorCode::from_code(code).unwrap_or(ErrorCode::UnknownServerError),
        message: text.map_or_else(
            || crate::error_code::error_code_name(code),
            |text| text.to_string(),
        ),
    })
}

/// The wire code and message of `result`.
fn refusal(result: Result<(), ControlError>) -> (i16, Option<StrBytes>) {
    match result {
        Ok(()) => (ErrorCode::None.code(), None),
        Err(error) => (error.code().code(), message(&error)),
    }
}

/// Exactly `count` results in request order: the controller answers each
/// item in order; items it left out are unavailable.
fn ordered<T>(
    count: usize,
    results: impl Iterator<Item = Result<T, ControlError>>,
) -> Vec<Result<T, ControlError>> {
    let mut results: Vec<_> = results.take(count).collect();
    results.resize_with(count, || Err(ControlError::Unavailable));
    results
}

fn created_topics(
    count: usize,
    response: CreateTopicsResponse,
) -> Vec<Result<CreatedTopic, ControlError>> {
    ordered(
        count,
        response.topics.into_iter().map(|topic| {
            outcome(topic.error_code, topic.error_message).map(|()| CreatedTopic {
                topic_id: *topic.topic_id.as_bytes(),
                partitions: topic.num_partitions,
                replication_factor: topic.replication_factor,
            })
        }),
    )
}

fn deleted_topics(
    count: usize,
    response: DeleteTopicsResponse,
) -> Vec<Result<(String, skein_controller::TopicId), ControlError>> {
    ordered(
        count,
        response.responses.into_iter().map(|topic| {
            outcome(topic.error_code, topic.error_message).map(|()| {
                let name = topic.name.map(|name| name.to_string()).unwrap_or_default();
                (name, *topic.topic_id.as_bytes())
            })
        }),
    )
}

fn elected_leaders(response: ElectLeadersResponse) -> Result<Vec<ElectionOutcome>, ControlError> {
    outcome(response.error_code, None)?;
    Ok(response
        .replica_election_results
        .into_iter()
        .flat_map(|topic| {
            let name = topic.topic.to_string();
            topic.partition_result.into_iter().map(move |partition| {
                (
                    name.clone(),
                    partition.partition_id,
                    outcome(partition.error_code, partition.error_message),
                )
            })
        })
        .collect())
}

fn election_response(outcomes: Result<Vec<ElectionOutcome>, ControlError>) -> ElectLeadersResponse {
    let outcomes = match outcomes {
        Ok(outcomes) => outcomes,
        Err(error) => {
            return ElectLeadersResponse::default().with_error_code(error.code().code());
        }
    };
    let mut results: Vec<ReplicaElectionResult> = Vec::new();
    for (name, index, result) in outcomes {
        let (code, text) = refusal(result);
        let partition = PartitionResult::default()
            .with_partition_id(index)
            .with_error_code(code)
            .with_error_message(text);
        match results.last_mut() {
            Some(last) if last.topic.as_str() == name => last.partition_result.push(partition),
            _ => results.push(
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&name))
                    .with_partition_result(vec![partition]),
            ),
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(results)
}

/// The Kafka `node.id` of quorum node `id` (-1: none).
fn broker_id(id: Option<QuorumNodeId>) -> BrokerId {
    BrokerId(
        id.and_then(|id| id.checked_sub(1))
            .and_then(|id| i32::try_from(id).ok())
            .unwrap_or(-1),
    )
}

/// The quorum node id of Kafka `node.id` `id` (`None` for a negative one).
fn quorum_id(id: BrokerId) -> Option<QuorumNodeId> {
    u64::try_from(id.0).ok().map(|id| id + 1)
}

fn describe_quorum_response(status: Result<QuorumStatus, ControlError>) -> DescribeQuorumResponse {
    let status = match status {
        Ok(status) => status,
        Err(error) => {
            return DescribeQuorumResponse::default().with_error_code(error.code().code());
        }
    };
    let replica = |state: &ReplicaState| {
        QuorumReplica::default()
            .with_replica_id(broker_id(Some(state.id)))
            .with_log_end_offset(
                state
                    .log_end_offset
                    .and_then(|offset| i64::try_from(offset).ok())
                    .unwrap_or(-1),
            )
    };
    let partition = QuorumPartitionData::default()
        .with_partition_index(0)
        .with_error_code(if status.leader_id == Some(status.node_id) {
            ErrorCode::None.code()
        } else {
            ErrorCode::NotLeaderOrFollower.code()
        })
        .with_leader_id(broker_id(status.leader_id))
        .with_leader_epoch(i32::try_from(status.term).unwrap_or(i32::MAX))
        .with_high_watermark(i64::try_from(status.high_watermark).unwrap_or(i64::MAX))
        .with_current_voters(status.voters.iter().map(replica).collect())
        .with_observers(status.observers.iter().map(replica).collect());
    DescribeQuorumResponse::default().with_topics(vec![QuorumTopicData::default()
        .with_topic_name(topic_name(CLUSTER_METADATA_TOPIC))
        .with_partitions(vec![partition])])
}

/// The quorum's status as the active controller answered it; it answered
/// for itself, so it is the node that answered.
fn quorum_status(response: DescribeQuorumResponse) -> Result<QuorumStatus, ControlError> {
    outcome(response.error_code, response.error_message)?;
    let partition = response
        .topics
        .into_iter()
        .flat_map(|topic| topic.partitions)
        .next()
        .ok_or(ControlError::Unavailable)?;
    if partition.error_code == ErrorCode::NotLeaderOrFollower.code() {
        return Err(ControlError::NotController {
            active: (partition.leader_id.0 >= 0).then_some(partition.leader_id.0),
        });
    }
    outcome(partition.error_code, partition.error_message)?;
    let replicas = |states: Vec<QuorumReplica>| {
        states
            .into_iter()
            .filter_map(|state| {
                Some(ReplicaState {
                    id: quorum_id(state.replica_id)?,
                    log_end_offset: u64::try_from(state.log_end_offset).ok(),
                })
            })
            .collect()
    };
    let leader_id = quorum_id(partition.leader_id);
    Ok(QuorumStatus {
        node_id: leader_id.unwrap_or_default(),
        leader_id,
        term: u64::try_from(partition.leader_epoch).unwrap_or_default(),
        high_watermark: u64::try_from(partition.high_watermark).unwrap_or_default(),
        voters: replicas(partition.current_voters),
        observers: replicas(partition.observers),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use skein_controller::ControllerError;

    fn refused() -> ControlError {
        ControlError::Refused(ControllerError::UnknownTopic("gone".into()))
    }

    #[test]
    fn create_topics_round_trips_through_kafkas_messages() {
        let topics = vec![
            NewTopic {
                name: "orders".into(),
                partitions: 6,
                replication_factor: 3,
                configs: vec![("retention.ms".into(), "1000".into())],
                assignments: vec![],
            },
            NewTopic {
                name: "placed".into(),
                partitions: -1,
                replication_factor: -1,
                configs: vec![],
                assignments: vec![(1, vec![3, 1]), (0, vec![2, 3])],
            },
            NewTopic {
                name: "gone".into(),
                partitions: -1,
                replication_factor: -1,
                configs: vec![],
                assignments: vec![],
            },
        ];
        let request = ForwardedRequest::CreateTopics(create_topics_request(&topics, true));
        match control_request(&request) {
            ControlRequest::CreateTopics {
                topics: decoded,
                validate_only,
            } => {
                assert_eq!(decoded, topics);
                assert!(validate_only);
            }
            _ => panic!("another request"),
        }
        let created = [
            CreatedTopic {
                topic_id: [7; 16],
                partitions: 6,
                replication_factor: 3,
            },
            CreatedTopic {
                topic_id: [8; 16],
                partitions: 2,
                replication_factor: 2,
            },
        ];
        let reply =
            ControlReply::CreatedTopics(vec![Ok(created[0]), Ok(created[1]), Err(refused())]);
        let ForwardedResponse::CreateTopics(response) = forwarded_response(&request, reply) else {
            panic!("another response");
        };
        let results = created_topics(3, response);
        assert_eq!(results[0].as_ref().unwrap(), &created[0]);
        // A manual assignment's replication factor is the controller's, not
        // the request's -1.
        assert_eq!(results[1].as_ref().unwrap(), &created[1]);
        let error = results[2].as_ref().unwrap_err();
        assert_eq!(error.code(), ErrorCode::UnknownTopicOrPartition);
        assert_eq!(error.to_string(), refused().to_string());
    }

    #[test]
    fn create_partitions_round_trip_with_and_without_assignments() {
        let topics = vec![
            NewPartitions::placed("orders", 6),
            NewPartitions {
                name: "placed".into(),
                count: 4,
                assignments: Some(vec![vec![2, 3], vec![3, 1]]),
            },
        ];
        let request = ForwardedRequest::CreatePartitions(create_partitions_request(&topics, false));
        match control_request(&request) {
            ControlRequest::CreatePartitions {
                topics: decoded,
                validate_only,
            } => {
                assert_eq!(decoded, topics);
                assert!(!validate_only);
            }
            _ => panic!("another request"),
        }
    }

    #[test]
    fn delete_topics_by_name_and_id_round_trip() {
        let topics = vec![TopicRef::Name("orders".into()), TopicRef::Id([3; 16])];
        let request = ForwardedRequest::DeleteTopics(delete_topics_request(&topics));
        match control_request(&request) {
            ControlRequest::DeleteTopics { topics: decoded } => assert_eq!(decoded, topics),
            _ => panic!("another request"),
        }
        let reply =
            ControlReply::DeletedTopics(vec![Ok(("orders".into(), [1; 16])), Err(refused())]);
        let ForwardedResponse::DeleteTopics(response) = forwarded_response(&request, reply) else {
            panic!("another response");
        };
        let results = deleted_topics(2, response);
        assert_eq!(
            results[0].as_ref().unwrap(),
            &("orders".to_string(), [1; 16])
        );
        assert!(results[1].is_err());
    }

    #[test]
    fn config_changes_keep_set_delete_and_replace() {
        let incremental = vec![TopicConfigChange {
            topic: "orders".into(),
            replace_all: false,
            ops: vec![
                ("retention.ms".into(), Some("5".into())),
                ("segment.bytes".into(), None),
            ],
        }];
        let request = ForwardedRequest::IncrementalAlterConfigs(incremental_alter_configs_request(
            &incremental,
            false,
        ));
        match control_request(&request) {
            ControlRequest::AlterTopicConfigs { changes, .. } => assert_eq!(changes, incremental),
            _ => panic!("another request"),
        }
        let mut replacing = incremental.clone();
        replacing[0].replace_all = true;
        let request = ForwardedRequest::AlterConfigs(alter_configs_request(&replacing, true));
        match control_request(&request) {
            ControlRequest::AlterTopicConfigs {
                changes,
                validate_only,
            } => {
                assert_eq!(changes, replacing);
                assert!(validate_only);
            }
            _ => panic!("another request"),
        }
    }

    #[test]
    fn elections_keep_per_partition_outcomes_and_top_level_errors() {
        let partitions = vec![("orders".to_string(), vec![0, 1])];
        let request = ForwardedRequest::ElectLeaders(
            elect_leaders_request(ElectionType::Preferred, Some(&partitions)).unwrap(),
        );
        match control_request(&request) {
            ControlRequest::ElectLeaders {
                election_type,
                partitions: decoded,
            } => {
                assert_eq!(election_type, ElectionType::Preferred);
                assert_eq!(decoded, Some(partitions));
            }
            _ => panic!("another request"),
        }
        let reply = ControlReply::ElectedLeaders(Ok(vec![
            ("orders".into(), 0, Ok(())),
            ("orders".into(), 1, Err(refused())),
        ]));
        let ForwardedResponse::ElectLeaders(response) = forwarded_response(&request, reply) else {
            panic!("another response");
        };
        let outcomes = elected_leaders(response).unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes[0].2.is_ok());
        assert_eq!(
            outcomes[1].2.as_ref().unwrap_err().code(),
            ErrorCode::UnknownTopicOrPartition
        );
        let failed = election_response(Err(ControlError::NotController { active: Some(2) }));
        assert_eq!(
            elected_leaders(failed).unwrap_err().code(),
            ErrorCode::NotController
        );
        assert!(elect_leaders_request(ElectionType::Online, None).is_none());
    }

    #[test]
    fn quorum_status_round_trips_from_the_leader() {
        let status = QuorumStatus {
            node_id: 2,
            leader_id: Some(2),
            term: 4,
            high_watermark: 90,
            voters: vec![
                ReplicaState {
                    id: 1,
                    log_end_offset: Some(88),
                },
                ReplicaState {
                    id: 2,
                    log_end_offset: Some(90),
                },
                ReplicaState {
                    id: 3,
                    log_end_offset: None,
                },
            ],
            observers: vec![],
        };
        let decoded = quorum_status(describe_quorum_response(Ok(status.clone()))).unwrap();
        assert_eq!(decoded, status);
        let follower = QuorumStatus {
            node_id: 1,
            ..status
        };
        assert_eq!(
            quorum_status(describe_quorum_response(Ok(follower)))
                .unwrap_err()
                .code(),
            ErrorCode::NotController
        );
    }

    #[test]
    fn missing_results_are_unavailable_not_dropped() {
        let results = created_topics(2, CreateTopicsResponse::default());
        assert_eq!(results.len(), 2);
        assert!(results
            .iter()
            .all(|result| matches!(result, Err(ControlError::Unavailable))));
    }
}
