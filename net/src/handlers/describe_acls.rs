//! DescribeAcls: the ACL bindings a filter selects, from the metadata image,
//! grouped by resource pattern. Unknown codes in the filter are answered
//! INVALID_REQUEST; without an authorizer, SECURITY_DISABLED (as Kafka).

use kafka_protocol::messages::describe_acls_request::DescribeAclsRequest;
use kafka_protocol::messages::describe_acls_response::{
    AclDescription, DescribeAclsResource, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;
use skein_controller::{
    AclBindingFilter, AclError, AclOperation, AclPermission, PatternType, ResourceType,
};

use super::create_acls::{CLUSTER_DENIED, NO_AUTHORIZER};
use super::{message, str_bytes};
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// The wire fields of a DescribeAcls or DeleteAcls filter.
pub struct WireFilter<'a> {
    /// Resource type code.
    pub resource_type: i8,
    /// Resource name, null for any.
    pub resource_name: Option<&'a StrBytes>,
    /// Pattern type code.
    pub pattern_type: i8,
    /// Principal, null for any.
    pub principal: Option<&'a StrBytes>,
    /// Host, null for any.
    pub host: Option<&'a StrBytes>,
    /// Operation code.
    pub operation: i8,
    /// Permission code.
    pub permission: i8,
}

/// The filter of the wire fields, or why its codes are not Kafka's (an
/// UNKNOWN value included).
pub fn binding_filter(wire: WireFilter<'_>) -> Result<AclBindingFilter, AclError> {
    Ok(AclBindingFilter {
        resource_type: ResourceType::from_code(wire.resource_type)
            .ok_or(AclError::ResourceType(wire.resource_type))?,
        resource_name: wire.resource_name.map(|n| n.to_string()),
        pattern_type: PatternType::from_code(wire.pattern_type)
            .ok_or(AclError::PatternType(wire.pattern_type))?,
        principal: wire.principal.map(|p| p.to_string()),
        host: wire.host.map(|h| h.to_string()),
        operation: AclOperation::from_code(wire.operation)
            .ok_or(AclError::Operation(wire.operation))?,
        permission: AclPermission::from_code(wire.permission)
            .ok_or(AclError::Permission(wire.permission))?,
    })
}

/// Answers a DescribeAcls request.
/// `authorized`: whether the principal may DESCRIBE the cluster.
pub fn handle(
    ctx: &ShardState,
    request: DescribeAclsRequest,
    authorized: bool,
) -> DescribeAclsResponse {
    if !authorized {
        return DescribeAclsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
            .with_error_message(message(&CLUSTER_DENIED));
    }
    if ctx.authorizer.is_none() {
        return DescribeAclsResponse::default()
            .with_error_code(ErrorCode::SecurityDisabled.code())
            .with_error_message(message(&NO_AUTHORIZER));
    }
    let filter = match binding_filter(WireFilter {
        resource_type: request.resource_type_filter,
        resource_name: request.resource_name_filter.as_ref(),
        pattern_type: request.pattern_type_filter,
        principal: request.principal_filter.as_ref(),
        host: request.host_filter.as_ref(),
        operation: request.operation,
        permission: request.permission_type,
    }) {
        Ok(filter) => filter,
        Err(error) => {
            return DescribeAclsResponse::default()
                .with_error_code(ErrorCode::InvalidRequest.code())
                .with_error_message(message(&error))
        }
    };
    let image = ctx.image();
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    let mut matched: Vec<_> = image.acls().matching(&filter).map(|(_, b)| b).collect();
    matched.sort();
    for binding in matched {
        let description = AclDescription::default()
            .with_principal(str_bytes(&binding.principal))
            .with_host(str_bytes(&binding.host))
            .with_operation(binding.operation.code())
            .with_permission_type(binding.permission.code());
        let same = |r: &DescribeAclsResource| {
            r.resource_type == binding.resource_type.code()
                && r.pattern_type == binding.pattern_type.code()
                && r.resource_name.as_str() == binding.resource_name
        };
        match resources.iter_mut().find(|r| same(r)) {
            Some(resource) => resource.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(binding.resource_type.code())
                    .with_resource_name(str_bytes(&binding.resource_name))
                    .with_pattern_type(binding.pattern_type.code())
                    .with_acls(vec![description]),
            ),
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    fn wire(resource_type: i8, pattern_type: i8, operation: i8) -> WireFilter<'static> {
        WireFilter {
            resource_type,
            resource_name: None,
            pattern_type,
            principal: None,
            host: None,
            operation,
            permission: 1,
        }
    }

    #[test]
    fn unknown_codes_in_a_filter_are_refused() {
        assert_eq!(
            binding_filter(wire(0, 1, 1)),
            Err(AclError::ResourceType(0))
        );
        assert_eq!(binding_filter(wire(2, 9, 1)), Err(AclError::PatternType(9)));
        assert_eq!(binding_filter(wire(2, 2, 0)), Err(AclError::Operation(0)));
    }

    #[test]
    fn any_and_match_filters_are_accepted() {
        let filter = binding_filter(wire(1, 2, 3)).unwrap();
        assert_eq!(filter.resource_type, ResourceType::Any);
        assert_eq!(filter.pattern_type, PatternType::Match);
        assert_eq!(filter.operation, AclOperation::Read);
        assert_eq!(filter.permission, AclPermission::Any);
        assert_eq!(filter.resource_name, None);
    }
}
