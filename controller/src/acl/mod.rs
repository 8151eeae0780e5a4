//! Access control lists with Kafka's model and Kafka's `StandardAuthorizer`
//! semantics: an ACL binding allows or denies one principal, from one host,
//! one operation on a resource pattern (literal or prefixed); `binding`
//! holds the model (with Kafka's wire codes) and the filters that
//! DescribeAcls and DeleteAcls use, `authorizer` decides whether a request
//! may go ahead. The bindings themselves live in the metadata log
//! (`AccessControlEntryRecord`) and the image.

mod authorizer;
mod binding;

pub use authorizer::{
    AclTable, AuthorizationResult, Authorizer, AuthorizerError, AuthorizerSettings,
    ACL_AUTHORIZER_CLASS_NAME, STANDARD_AUTHORIZER_CLASS_NAME,
};
pub use binding::{
    AclBinding, AclBindingFilter, AclError, AclId, AclOperation, AclPermission, PatternType,
    ResourceType, CLUSTER_RESOURCE_NAME, WILDCARD_HOST, WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};
