//! CreateAcls: new ACL bindings, made by the active controller (forwarded
//! from any node) and stored in the metadata log. One result per creation;
//! without an authorizer (`authorizer.class.name` empty) every creation is
//! answered SECURITY_DISABLED, as Kafka does.

use kafka_protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use kafka_protocol::messages::create_acls_response::{AclCreationResult, CreateAclsResponse};
use skein_controller::{
    AclBinding, AclError, AclOperation, AclPermission, ControllerError, PatternType, ResourceType,
};

use super::message;
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest};
use crate::shard_state::ShardState;

/// Kafka's message when no authorizer is configured.
pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

/// Kafka's message when the principal may not act on the cluster.
pub const CLUSTER_DENIED: &str = "Cluster authorization failed.";

/// The binding a creation asks for, or why its codes are not Kafka's.
pub fn binding(creation: &AclCreation) -> Result<AclBinding, AclError> {
    Ok(AclBinding {
        resource_type: ResourceType::from_code(creation.resource_type)
            .ok_or(AclError::ResourceType(creation.resource_type))?,
        resource_name: creation.resource_name.to_string(),
        pattern_type: PatternType::from_code(creation.resource_pattern_type)
            .ok_or(AclError::PatternType(creation.resource_pattern_type))?,
        principal: creation.principal.to_string(),
        host: creation.host.to_string(),
        operation: AclOperation::from_code(creation.operation)
            .ok_or(AclError::Operation(creation.operation))?,
        permission: AclPermission::from_code(creation.permission_type)
            .ok_or(AclError::Permission(creation.permission_type))?,
    })
}

/// The control request of a CreateAcls.
pub fn control_request(request: &CreateAclsRequest) -> ControlRequest {
    ControlRequest::CreateAcls {
        creations: request.creations.iter().map(binding).collect(),
    }
}

/// The Kafka response of the per-creation outcomes in `reply`.
pub fn response(reply: ControlReply) -> CreateAclsResponse {
    let results = match reply {
        ControlReply::CreatedAcls(results) => results,
        _ => {
            tracing::error!("control reply of another kind to CreateAcls");
            Vec::new()
        }
    };
    CreateAclsResponse::default().with_results(
        results
            .into_iter()
            .map(|outcome| match outcome {
                Ok(()) => AclCreationResult::default(),
                Err(error) => AclCreationResult::default()
                    .with_error_code(error.code().code())
                    .with_error_message(message(&error)),
            })
            .collect(),
    )
}

/// Answers a CreateAcls request.
/// `authorized`: whether the principal may ALTER the cluster.
pub async fn handle(
    ctx: &ShardState,
    request: CreateAclsRequest,
    authorized: bool,
) -> CreateAclsResponse {
    if !authorized {
        return CreateAclsResponse::default().with_results(
            request
                .creations
                .iter()
                .map(|_| {
                    AclCreationResult::default()
                        .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
                        .with_error_message(message(&CLUSTER_DENIED))
                })
                .collect(),
        );
    }
    if ctx.authorizer.is_none() {
        return CreateAclsResponse::default().with_results(
            request
                .creations
                .iter()
                .map(|_| {
                    AclCreationResult::default()
                        .with_error_code(ErrorCode::SecurityDisabled.code())
                        .with_error_message(message(&NO_AUTHORIZER))
                })
                .collect(),
        );
    }
    let count = request.creations.len();
    let reply = match ctx.control(control_request(&request)).await {
        Some(reply) => reply,
        None => {
            ControlReply::CreatedAcls((0..count).map(|_| Err(ControlError::Unavailable)).collect())
        }
    };
    response(reply)
}

/// The refusal of a creation whose codes are not Kafka's.
pub fn refused(error: AclError) -> ControlError {
    ControlError::Refused(ControllerError::InvalidAcl(error))
}
