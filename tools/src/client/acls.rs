//! ACLs: CreateAcls, DescribeAcls and DeleteAcls.
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;
use skein_controller::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};

use super::{ClientError, Connection};

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn kafka_error(code: i16, message: Option<StrBytes>, api: ApiKey) -> ClientError {
    ClientError::Kafka {
        api,
        code,
        context: None,
        message: message.map(|m| m.to_string()),
    }
}

fn binding_of(
    resource_type: i8,
    resource_name: &StrBytes,
    pattern_type: i8,
    principal: &StrBytes,
    host: &StrBytes,
    operation: i8,
    permission: i8,
) -> Option<AclBinding> {
    Some(AclBinding {
        resource_type: ResourceType::from_code(resource_type)?,
        resource_name: resource_name.to_string(),
        pattern_type: PatternType::from_code(pattern_type)?,
        principal: principal.to_string(),
        host: host.to_string(),
        operation: AclOperation::from_code(operation)?,
        permission: AclPermission::from_code(permission)?,
    })
}

impl Connection {
    /// Creates `bindings`.
    ///
    /// # Errors
    /// The broker's error for the first binding it refused
    /// (SECURITY_DISABLED without an authorizer, INVALID_REQUEST, …).
    pub fn create_acls(&mut self, bindings: &[AclBinding]) -> Result<(), ClientError> {
        let request = CreateAclsRequest::default().with_creations(
            bindings
                .iter()
                .map(|b| {
                    AclCreation::default()
                        .with_resource_type(b.resource_type.code())
                        .with_resource_name(text(&b.resource_name))
                        .with_resource_pattern_type(b.pattern_type.code())
                        .with_principal(text(&b.principal))
                        .with_host(text(&b.host))
                        .with_operation(b.operation.code())
                        .with_permission_type(b.permission.code())
                })
                .collect(),
        );
        let response = self.call(&request)?;
        for result in response.results {
            if result.error_code != 0 {
                return Err(kafka_error(
                    result.error_code,
                    result.error_message,
                    ApiKey::CreateAcls,
                ));
            }
        }
        Ok(())
    }

    /// The bindings `filter` selects.
    ///
    /// # Errors
    /// The broker's error (SECURITY_DISABLED, INVALID_REQUEST).
    pub fn describe_acls(
        &mut self,
        filter: &AclBindingFilter,
    ) -> Result<Vec<AclBinding>, ClientError> {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(filter.resource_name.as_deref().map(text))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(filter.principal.as_deref().map(text))
            .with_host_filter(filter.host.as_deref().map(text))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission.code());
        let response = self.call(&request)?;
        if response.error_code != 0 {
            return Err(kafka_error(
                response.error_code,
                response.error_message,
                ApiKey::DescribeAcls,
            ));
        }
        Ok(response
            .resources
            .iter()
            .flat_map(|r| {
                r.acls.iter().filter_map(|a| {
                    binding_of(
                        r.resource_type,
                        &r.resource_name,
                        r.pattern_type,
                        &a.principal,
                        &a.host,
                        a.operation,
                        a.permission_type,
                    )
                })
            })
            .collect())
    }

    /// Removes the bindings `filter` selects; returns them.
    ///
    /// # Errors
    /// The broker's error (SECURITY_DISABLED, INVALID_REQUEST).
    pub fn delete_acls(
        &mut self,
        filter: &AclBindingFilter,
    ) -> Result<Vec<AclBinding>, ClientError> {
        let request = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()
            .with_resource_type_filter(filter.resource_type.code())
            .with_resource_name_filter(filter.resource_name.as_deref().map(text))
            .with_pattern_type_filter(filter.pattern_type.code())
            .with_principal_filter(filter.principal.as_deref().map(text))
            .with_host_filter(filter.host.as_deref().map(text))
            .with_operation(filter.operation.code())
            .with_permission_type(filter.permission.code())]);
        let response = self.call(&request)?;
        let mut removed = Vec::new();
        for result in response.filter_results {
            if result.error_code != 0 {
                return Err(kafka_error(
                    result.error_code,
                    result.error_message,
                    ApiKey::DeleteAcls,
                ));
            }
            removed.extend(result.matching_acls.iter().filter_map(|a| {
                binding_of(
                    a.resource_type,
                    &a.resource_name,
                    a.pattern_type,
                    &a.principal,
                    &a.host,
                    a.operation,
                    a.permission_type,
                )
            }));
        }
        Ok(removed)
    }
}
