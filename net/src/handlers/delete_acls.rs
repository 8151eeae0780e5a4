//! DeleteAcls: removes every ACL binding each filter selects, through the
//! active controller (forwarded from any node); each filter's result lists
//! the bindings it removed. A filter with codes that are not Kafka's is
//! answered INVALID_REQUEST; without an authorizer, SECURITY_DISABLED.

use kafka_protocol::messages::delete_acls_request::{DeleteAclsFilter, DeleteAclsRequest};
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl, DeleteAclsResponse,
};
use skein_controller::{AclBinding, AclBindingFilter, AclError};

use super::create_acls::{CLUSTER_DENIED, NO_AUTHORIZER};
use super::describe_acls::{binding_filter, WireFilter};
use super::{message, str_bytes};
use crate::error_code::ErrorCode;
use crate::shard_message::{ControlError, ControlReply, ControlRequest};
use crate::shard_state::ShardState;

/// The filter of a DeleteAcls filter.
pub fn filter(wire: &DeleteAclsFilter) -> Result<AclBindingFilter, AclError> {
    binding_filter(WireFilter {
        resource_type: wire.resource_type_filter,
        resource_name: wire.resource_name_filter.as_ref(),
        pattern_type: wire.pattern_type_filter,
        principal: wire.principal_filter.as_ref(),
        host: wire.host_filter.as_ref(),
        operation: wire.operation,
        permission: wire.permission_type,
    })
}

/// The control request of a DeleteAcls.
pub fn control_request(request: &DeleteAclsRequest) -> ControlRequest {
    ControlRequest::DeleteAcls {
        filters: request.filters.iter().map(filter).collect(),
    }
}

/// The wire description of a removed binding.
pub fn matching_acl(binding: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(binding.resource_type.code())
        .with_resource_name(str_bytes(&binding.resource_name))
        .with_pattern_type(binding.pattern_type.code())
        .with_principal(str_bytes(&binding.principal))
        .with_host(str_bytes(&binding.host))
        .with_operation(binding.operation.code())
        .with_permission_type(binding.permission.code())
}

/// The binding a removed-ACL description carries back from the active
/// controller; `None` if its codes are not Kafka's.
pub fn removed_binding(acl: &DeleteAclsMatchingAcl) -> Option<AclBinding> {
    Some(AclBinding {
        resource_type: skein_controller::ResourceType::from_code(acl.resource_type)?,
        resource_name: acl.resource_name.to_string(),
        pattern_type: skein_controller::PatternType::from_code(acl.pattern_type)?,
        principal: acl.principal.to_string(),
        host: acl.host.to_string(),
        operation: skein_controller::AclOperation::from_code(acl.operation)?,
        permission: skein_controller::AclPermission::from_code(acl.permission_type)?,
    })
}

/// The Kafka response of the per-filter outcomes in `reply`.
pub fn response(reply: ControlReply) -> DeleteAclsResponse {
    let results = match reply {
        ControlReply::DeletedAcls(results) => results,
        _ => {
            tracing::error!("control reply of another kind to DeleteAcls");
            Vec::new()
        }
    };
    DeleteAclsResponse::default().with_filter_results(
        results
            .into_iter()
            .map(|outcome| match outcome {
                Ok(bindings) => DeleteAclsFilterResult::default()
                    .with_matching_acls(bindings.iter().map(matching_acl).collect()),
                Err(error) => DeleteAclsFilterResult::default()
                    .with_error_code(error.code().code())
                    .with_error_message(message(&error)),
            })
            .collect(),
    )
}

/// Answers a DeleteAcls request.
/// `authorized`: whether the principal may ALTER the cluster.
pub async fn handle(
    ctx: &ShardState,
    request: DeleteAclsRequest,
    authorized: bool,
) -> DeleteAclsResponse {
    if !authorized {
        return DeleteAclsResponse::default().with_filter_results(
            request
                .filters
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
                        .with_error_message(message(&CLUSTER_DENIED))
                })
                .collect(),
        );
    }
    if ctx.authorizer.is_none() {
        return DeleteAclsResponse::default().with_filter_results(
            request
                .filters
                .iter()
                .map(|_| {
                    DeleteAclsFilterResult::default()
                        .with_error_code(ErrorCode::SecurityDisabled.code())
                        .with_error_message(message(&NO_AUTHORIZER))
                })
                .collect(),
        );
    }
    let count = request.filters.len();
    let reply = match ctx.control(control_request(&request)).await {
        Some(reply) => reply,
        None => {
            ControlReply::DeletedAcls((0..count).map(|_| Err(ControlError::Unavailable)).collect())
        }
    };
    response(reply)
}
