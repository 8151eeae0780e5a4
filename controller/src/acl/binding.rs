//! The ACL model: resource types, pattern types, operations and permissions
//! with Kafka's wire codes, a binding (one access control entry on one
//! resource pattern) and a binding filter (what DescribeAcls and DeleteAcls
//! match with, where every field may be "any").

use crate::principal::KafkaPrincipal;

/// The principal that matches every user (`User:*`).
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The host that matches every client address.
pub const WILDCARD_HOST: &str = "*";
/// The literal resource name that matches every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";

/// The name of the single CLUSTER resource.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";

/// An ACL's identity in the metadata log (Kafka's `AccessControlEntryRecord.id`).
pub type AclId = [u8; 16];

/// A binding or a filter Kafka refuses (INVALID_REQUEST at the protocol edge).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("invalid resource type {0}")]
    ResourceType(i8),
    #[error("invalid pattern type {0}")]
    PatternType(i8),
    #[error("invalid operation {0}")]
    Operation(i8),
    #[error("invalid permission type {0}")]
    Permission(i8),
    #[error("resource name must not be empty")]
    EmptyResourceName,
    #[error("the only valid name for the CLUSTER resource is kafka-cluster")]
    ClusterResourceName,
    #[error("could not parse principal {0:?}")]
    Principal(String),
    #[error("host must not be empty")]
    EmptyHost,
}

macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:expr, $text:expr;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL_VALUES: &'static [$name] = &[$($name::$variant,)*];

            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// The value of a wire code; `None` for codes Kafka does not define.
            pub fn from_code(code: i8) -> Option<$name> {
                match code {
                    $($code => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// Kafka's name (`TOPIC`, `PREFIXED`, `DESCRIBE_CONFIGS`, …).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The value of a name, case-insensitive as Kafka's `fromString`.
            pub fn from_name(text: &str) -> Option<$name> {
                $name::ALL_VALUES
                    .iter()
                    .copied()
                    .find(|value| value.name().eq_ignore_ascii_case(text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum! {
    /// What an ACL protects (Kafka's `ResourceType`).
    ResourceType {
        /// Filters only: any resource type.
        Any = 1, "ANY";
        /// A topic.
        Topic = 2, "TOPIC";
        /// A consumer group.
        Group = 3, "GROUP";
        /// The cluster (the single resource `kafka-cluster`).
        Cluster = 4, "CLUSTER";
        /// A transactional id.
        TransactionalId = 5, "TRANSACTIONAL_ID";
        /// A delegation token.
        DelegationToken = 6, "DELEGATION_TOKEN";
        /// A user (SCRAM credentials, quotas).
        User = 7, "USER";
    }
}

kafka_enum! {
    /// How an ACL's resource name matches (Kafka's `PatternType`).
    PatternType {
        /// Filters only: any pattern type with exactly the filter's name.
        Any = 1, "ANY";
        /// Filters only: every pattern that matches the filter's name
        /// (literal, the `*` wildcard, prefixes of it).
        Match = 2, "MATCH";
        /// The name itself (or `*`, every resource of the type).
        Literal = 3, "LITERAL";
        /// Every resource whose name starts with the name.
        Prefixed = 4, "PREFIXED";
    }
}

kafka_enum! {
    /// What a principal does to a resource (Kafka's `AclOperation`).
    AclOperation {
        /// Filters only: any operation.
        Any = 1, "ANY";
        /// Every operation.
        All = 2, "ALL";
        /// Read (consume, fetch offsets).
        Read = 3, "READ";
        /// Write (produce).
        Write = 4, "WRITE";
        /// Create.
        Create = 5, "CREATE";
        /// Delete.
        Delete = 6, "DELETE";
        /// Alter.
        Alter = 7, "ALTER";
        /// Describe.
        Describe = 8, "DESCRIBE";
        /// Inter-broker and controller actions.
        ClusterAction = 9, "CLUSTER_ACTION";
        /// Describe configs.
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        /// Alter configs.
        AlterConfigs = 11, "ALTER_CONFIGS";
        /// Idempotent produce.
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        /// Create delegation tokens.
        CreateTokens = 13, "CREATE_TOKENS";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
}

kafka_enum! {
    /// Whether an ACL allows or denies (Kafka's `AclPermissionType`).
    AclPermission {
        /// Filters only: either.
        Any = 1, "ANY";
        /// Denies; wins over every ALLOW.
        Deny = 2, "DENY";
        /// Allows.
        Allow = 3, "ALLOW";
    }
}

/// One ACL: `principal` from `host` is allowed or denied `operation` on the
/// resources `resource_type`/`resource_name` under `pattern_type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    /// TOPIC, GROUP, CLUSTER, … (never ANY).
    pub resource_type: ResourceType,
    /// The name, a prefix, or `*`.
    pub resource_name: String,
    /// LITERAL or PREFIXED.
    pub pattern_type: PatternType,
    /// `Type:name`, or `User:*`.
    pub principal: String,
    /// A client address, or `*`.
    pub host: String,
    /// Never ANY.
    pub operation: AclOperation,
    /// ALLOW or DENY.
    pub permission: AclPermission,
}

/// Splits `Type:name` (Kafka's `SecurityUtils.parseKafkaPrincipal`).
fn split_principal(principal: &str) -> Option<(&str, &str)> {
    let (principal_type, name) = principal.split_once(':')?;
    if principal_type.is_empty() {
        return None;
    }
    Some((principal_type, name))
}

impl AclBinding {
    /// Checks a binding as Kafka's controller does before it creates it
    /// (`AclControlManager.validateNewAcl`).
    pub fn validate(&self) -> Result<(), AclError> {
        match self.resource_type {
            ResourceType::Any => return Err(AclError::ResourceType(self.resource_type.code())),
            ResourceType::Cluster if self.resource_name != CLUSTER_RESOURCE_NAME => {
                return Err(AclError::ClusterResourceName)
            }
            _ => {}
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return Err(AclError::PatternType(self.pattern_type.code()));
        }
        if self.operation == AclOperation::Any {
            return Err(AclError::Operation(self.operation.code()));
        }
        if self.permission == AclPermission::Any {
            return Err(AclError::Permission(self.permission.code()));
        }
        if self.resource_name.is_empty() {
            return Err(AclError::EmptyResourceName);
        }
        if split_principal(&self.principal).is_none() {
            return Err(AclError::Principal(self.principal.clone()));
        }
        if self.host.is_empty() {
            return Err(AclError::EmptyHost);
        }
        Ok(())
    }

    /// Whether this binding's principal is `principal` or the wildcard.
    pub(crate) fn matches_principal(&self, principal: &KafkaPrincipal) -> bool {
        if self.principal == WILDCARD_PRINCIPAL {
            return true;
        }
        match split_principal(&self.principal) {
            Some((principal_type, name)) => {
                principal_type == principal.principal_type && name == principal.name
            }
            None => false,
        }
    }

    /// Whether this binding's host is `host` or the wildcard.
    pub(crate) fn matches_host(&self, host: &str) -> bool {
        self.host == WILDCARD_HOST || self.host == host
    }
}

/// What DescribeAcls and DeleteAcls select: `None` and the ANY values match
/// everything; `PatternType::Match` matches every pattern that applies to the
/// named resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    /// A type, or ANY.
    pub resource_type: ResourceType,
    /// A name, or `None` for any.
    pub resource_name: Option<String>,
    /// LITERAL, PREFIXED, ANY or MATCH.
    pub pattern_type: PatternType,
    /// A principal, or `None` for any.
    pub principal: Option<String>,
    /// A host, or `None` for any.
    pub host: Option<String>,
    /// An operation, or ANY.
    pub operation: AclOperation,
    /// A permission, or ANY.
    pub permission: AclPermission,
}

impl AclBindingFilter {
    /// The filter that matches every binding.
    pub fn any() -> AclBindingFilter {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// Whether `binding` is selected by this filter (Kafka's
    /// `AclBindingFilter.matches`).
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(binding) && self.matches_entry(binding)
    }

    fn matches_pattern(&self, binding: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != binding.resource_type {
            return false;
        }
        match self.pattern_type {
            PatternType::Any => self
                .resource_name
                .as_deref()
                .is_none_or(|name| name == binding.resource_name),
            PatternType::Literal | PatternType::Prefixed => {
                self.pattern_type == binding.pattern_type
                    && self
                        .resource_name
                        .as_deref()
                        .is_none_or(|name| name == binding.resource_name)
            }
            PatternType::Match => match self.resource_name.as_deref() {
                None => true,
                Some(name) => match binding.pattern_type {
                    PatternType::Literal => {
                        binding.resource_name == name || binding.resource_name == WILDCARD_RESOURCE
                    }
                    PatternType::Prefixed => name.starts_with(binding.resource_name.as_str()),
                    PatternType::Any | PatternType::Match => false,
                },
            },
        }
    }

    fn matches_entry(&self, binding: &AclBinding) -> bool {
        self.principal
            .as_deref()
            .is_none_or(|principal| principal == binding.principal)
            && self.host.as_deref().is_none_or(|host| host == binding.host)
            && (self.operation == AclOperation::Any || self.operation == binding.operation)
            && (self.permission == AclPermission::Any || self.permission == binding.permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(resource_name: &str, pattern_type: PatternType) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: resource_name.to_string(),
            pattern_type,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn codes_and_names_are_kafkas() {
        assert_eq!(ResourceType::Topic.code(), 2);
        assert_eq!(ResourceType::User.code(), 7);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclOperation::IdempotentWrite.code(), 12);
        assert_eq!(AclPermission::Allow.code(), 3);
        assert_eq!(ResourceType::from_code(0), None);
        assert_eq!(
            AclOperation::from_name("describe_configs"),
            Some(AclOperation::DescribeConfigs)
        );
        for op in AclOperation::ALL_VALUES {
            assert_eq!(AclOperation::from_code(op.code()), Some(*op));
        }
    }

    #[test]
    fn new_bindings_are_validated_as_kafkas_controller_does() {
        assert_eq!(binding("foo", PatternType::Literal).validate(), Ok(()));
        assert_eq!(
            binding("foo", PatternType::Match).validate(),
            Err(AclError::PatternType(2))
        );
        assert_eq!(
            binding("", PatternType::Literal).validate(),
            Err(AclError::EmptyResourceName)
        );
        let mut no_colon = binding("foo", PatternType::Literal);
        no_colon.principal = "alice".to_string();
        assert!(matches!(no_colon.validate(), Err(AclError::Principal(_))));
        let mut cluster = binding("foo", PatternType::Literal);
        cluster.resource_type = ResourceType::Cluster;
        assert_eq!(cluster.validate(), Err(AclError::ClusterResourceName));
        let mut any_op = binding("foo", PatternType::Literal);
        any_op.operation = AclOperation::Any;
        assert_eq!(any_op.validate(), Err(AclError::Operation(1)));
    }

    #[test]
    fn match_filters_select_literal_wildcard_and_prefix_patterns_of_a_name() {
        let filter = AclBindingFilter {
            resource_type: ResourceType::Topic,
            resource_name: Some("foobar".to_string()),
            pattern_type: PatternType::Match,
            ..AclBindingFilter::any()
        };
        assert!(filter.matches(&binding("foobar", PatternType::Literal)));
        assert!(filter.matches(&binding("*", PatternType::Literal)));
        assert!(filter.matches(&binding("foo", PatternType::Prefixed)));
        assert!(filter.matches(&binding("foobar", PatternType::Prefixed)));
        assert!(!filter.matches(&binding("foo", PatternType::Literal)));
        assert!(!filter.matches(&binding("bar", PatternType::Prefixed)));
    }

    #[test]
    fn any_filters_select_exact_names_of_every_pattern_type() {
        let filter = AclBindingFilter {
            resource_name: Some("foo".to_string()),
            ..AclBindingFilter::any()
        };
        assert!(filter.matches(&binding("foo", PatternType::Literal)));
        assert!(filter.matches(&binding("foo", PatternType::Prefixed)));
        assert!(!filter.matches(&binding("*", PatternType::Literal)));
        assert!(AclBindingFilter::any().matches(&binding("x", PatternType::Prefixed)));
    }

    #[test]
    fn entry_fields_of_a_filter_must_match_exactly() {
        let filter = AclBindingFilter {
            principal: Some("User:bob".to_string()),
            ..AclBindingFilter::any()
        };
        assert!(!filter.matches(&binding("foo", PatternType::Literal)));
        let filter = AclBindingFilter {
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
            host: Some("*".to_string()),
            ..AclBindingFilter::any()
        };
        assert!(filter.matches(&binding("foo", PatternType::Literal)));
    }
}
