//! The authorizer: Kafka's `StandardAuthorizer` decision over a set of ACL
//! bindings. Super users are allowed everything; otherwise a DENY binding
//! that matches the principal, host, operation and resource wins over every
//! ALLOW; an ALLOW of READ, WRITE, DELETE or ALTER implies DESCRIBE and an
//! ALLOW of ALTER_CONFIGS implies DESCRIBE_CONFIGS; a resource with no ACL
//! at all is allowed only under `allow.everyone.if.no.acl.found`.
//!
//! The bindings are indexed by resource type, pattern type and name, so a
//! check looks up the literal name, the `*` wildcard and each prefix of the
//! name with borrowed strings: no allocation per check (the produce and fetch
//! paths check every partition).

use std::collections::{BTreeMap, HashMap};

use super::binding::{
    AclBinding, AclBindingFilter, AclId, AclOperation, AclPermission, PatternType, ResourceType,
    WILDCARD_RESOURCE,
};
use crate::principal::KafkaPrincipal;

/// Kafka's KRaft authorizer class, which turns ACLs on.
pub const STANDARD_AUTHORIZER_CLASS_NAME: &str =
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer";
/// Kafka's ZooKeeper-era authorizer class, accepted as the same authorizer.
pub const ACL_AUTHORIZER_CLASS_NAME: &str = "kafka.security.authorizer.AclAuthorizer";

/// Authorizer settings Skein refuses at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizerError {
    #[error(
        "authorizer.class.name {0:?} is not supported: Skein implements Kafka's \
         {STANDARD_AUTHORIZER_CLASS_NAME} (or {ACL_AUTHORIZER_CLASS_NAME}); leave it empty for no authorization"
    )]
    UnsupportedClass(String),
    #[error("super.users entry {0:?} is not a principal of the form Type:name")]
    SuperUser(String),
}

/// The authorizer's settings: `super.users` and `allow.everyone.if.no.acl.found`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerSettings {
    /// Principals allowed everything.
    pub super_users: Vec<KafkaPrincipal>,
    /// Whether a resource without any ACL is open to everyone (Kafka's
    /// default: false).
    pub allow_everyone_if_no_acl_found: bool,
}

impl AuthorizerSettings {
    /// The settings of `authorizer.class.name`, `super.users` (semicolon
    /// separated `Type:name` principals) and `allow.everyone.if.no.acl.found`;
    /// `None` when no authorizer is configured (an empty class name).
    pub fn from_properties(
        class_name: &str,
        super_users: &str,
        allow_everyone_if_no_acl_found: bool,
    ) -> Result<Option<AuthorizerSettings>, AuthorizerError> {
        let class_name = class_name.trim();
        if class_name.is_empty() {
            return Ok(None);
        }
        if class_name != STANDARD_AUTHORIZER_CLASS_NAME && class_name != ACL_AUTHORIZER_CLASS_NAME {
            return Err(AuthorizerError::UnsupportedClass(class_name.to_string()));
        }
        let mut parsed = Vec::new();
        for entry in super_users
            .split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            match entry.split_once(':') {
                Some((principal_type, name)) if !principal_type.is_empty() => {
                    parsed.push(KafkaPrincipal {
                        principal_type: principal_type.to_string(),
                        name: name.to_string(),
                    })
                }
                _ => return Err(AuthorizerError::SuperUser(entry.to_string())),
            }
        }
        Ok(Some(AuthorizerSettings {
            super_users: parsed,
            allow_everyone_if_no_acl_found,
        }))
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationResult {
    /// The request may go ahead.
    Allowed,
    /// The request is refused.
    Denied,
}

/// Bindings of one resource type by pattern type and name.
#[derive(Debug, Clone, Default)]
struct ResourceAcls {
    literal: HashMap<String, Vec<AclBinding>>,
    prefixed: HashMap<String, Vec<AclBinding>>,
}

/// Every ACL binding, by id (for DescribeAcls and DeleteAcls) and indexed by
/// resource type, pattern type and name for checks. The metadata image holds
/// it; equal when the bindings are.
#[derive(Debug, Clone, Default)]
pub struct AclTable {
    bindings: BTreeMap<AclId, AclBinding>,
    index: HashMap<ResourceType, ResourceAcls>,
}

impl PartialEq for AclTable {
    fn eq(&self, other: &AclTable) -> bool {
        self.bindings == other.bindings
    }
}

impl Eq for AclTable {}

/// Kafka's `StandardAuthorizer`: its settings, deciding over an [`AclTable`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorizer {
    settings: AuthorizerSettings,
}

/// What the bindings that apply to one check say.
#[derive(Default)]
struct MatchingAcls {
    any_for_resource: bool,
    allowed: bool,
    denied: bool,
}

impl AclTable {
    /// Adds (or replaces) the binding `id`.
    pub fn add(&mut self, id: AclId, binding: AclBinding) {
        self.remove(&id);
        let acls = self.index.entry(binding.resource_type).or_default();
        let by_name = match binding.pattern_type {
            PatternType::Prefixed => &mut acls.prefixed,
            _ => &mut acls.literal,
        };
        by_name
            .entry(binding.resource_name.clone())
            .or_default()
            .push(binding.clone());
        self.bindings.insert(id, binding);
    }

    /// Removes the binding `id`; returns it if it was there.
    pub fn remove(&mut self, id: &AclId) -> Option<AclBinding> {
        let binding = self.bindings.remove(id)?;
        if let Some(acls) = self.index.get_mut(&binding.resource_type) {
            let by_name = match binding.pattern_type {
                PatternType::Prefixed => &mut acls.prefixed,
                _ => &mut acls.literal,
            };
            if let Some(list) = by_name.get_mut(&binding.resource_name) {
                if let Some(position) = list.iter().position(|b| *b == binding) {
                    list.swap_remove(position);
                }
                if list.is_empty() {
                    by_name.remove(&binding.resource_name);
                }
            }
        }
        Some(binding)
    }

    /// Every binding, by id.
    pub fn bindings(&self) -> &BTreeMap<AclId, AclBinding> {
        &self.bindings
    }

    /// The bindings `filter` selects, by id.
    pub fn matching<'a>(
        &'a self,
        filter: &'a AclBindingFilter,
    ) -> impl Iterator<Item = (&'a AclId, &'a AclBinding)> + 'a {
        self.bindings.iter().filter(|(_, b)| filter.matches(b))
    }

    /// Whether the table has no binding.
    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}

impl Authorizer {
    /// An authorizer with `settings`.
    pub fn new(settings: AuthorizerSettings) -> Authorizer {
        Authorizer { settings }
    }

    /// The settings.
    pub fn settings(&self) -> &AuthorizerSettings {
        &self.settings
    }

    /// Whether `principal` connected from `host` may do `operation` on the
    /// resource `resource_type`/`resource_name` under the bindings of `acls`.
    /// Allocates nothing.
    pub fn authorize(
        &self,
        acls: &AclTable,
        principal: &KafkaPrincipal,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> AuthorizationResult {
        if self.settings.super_users.iter().any(|s| s == principal) {
            return AuthorizationResult::Allowed;
        }
        let mut matching = MatchingAcls::default();
        if let Some(acls) = acls.index.get(&resource_type) {
            let mut check = |list: Option<&Vec<AclBinding>>| {
                for binding in list.into_iter().flatten() {
                    matching.any_for_resource = true;
                    if !binding.matches_principal(principal) || !binding.matches_host(host) {
                        continue;
                    }
                    match binding.permission {
                        AclPermission::Deny => {
                            if binding.operation == AclOperation::All
                                || binding.operation == operation
                            {
                                matching.denied = true;
                            }
                        }
                        AclPermission::Allow => {
                            if allow_covers(binding.operation, operation) {
                                matching.allowed = true;
                            }
                        }
                        AclPermission::Any => {}
                    }
                }
            };
            check(acls.literal.get(resource_name));
            if resource_name != WILDCARD_RESOURCE {
                check(acls.literal.get(WILDCARD_RESOURCE));
            }
            for (end, _) in resource_name.char_indices().skip(1) {
                check(resource_name.get(..end).and_then(|p| acls.prefixed.get(p)));
            }
            check(acls.prefixed.get(resource_name));
        }
        let open_by_default =
            !matching.any_for_resource && self.settings.allow_everyone_if_no_acl_found;
        if !matching.denied && (matching.allowed || open_by_default) {
            AuthorizationResult::Allowed
        } else {
            AuthorizationResult::Denied
        }
    }

    /// Whether `principal` from `host` may do `operation` on at least one
    /// resource of `resource_type` (Kafka's `authorizeByResourceType`, which
    /// InitProducerId uses for an idempotent producer without
    /// IDEMPOTENT_WRITE): a super user, or a resource type open under
    /// `allow.everyone.if.no.acl.found`, may; otherwise some ALLOW of the
    /// operation (or ALL) must not be covered by a DENY — a wildcard DENY
    /// covers everything, a literal DENY its name, a prefixed DENY every
    /// name it starts. Only the exact operation counts (no implied
    /// DESCRIBE), as in Kafka. Allocates nothing.
    pub fn authorize_by_resource_type(
        &self,
        acls: &AclTable,
        principal: &KafkaPrincipal,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> AuthorizationResult {
        // Kafka checks a made-up name first, so that super users (and an
        // open resource type) are allowed whatever the DENY bindings say.
        let probe = self.authorize(acls, principal, host, operation, resource_type, "hardcode");
        if probe == AuthorizationResult::Allowed {
            return AuthorizationResult::Allowed;
        }
        let Some(acls) = acls.index.get(&resource_type) else {
            return AuthorizationResult::Denied;
        };
        let applies = |binding: &AclBinding, permission: AclPermission| {
            binding.permission == permission
                && (binding.operation == operation || binding.operation == AclOperation::All)
                && binding.matches_principal(principal)
                && binding.matches_host(host)
        };
        let literal = || acls.literal.values().flatten();
        let prefixed = || acls.prefixed.values().flatten();
        if literal()
            .any(|b| b.resource_name == WILDCARD_RESOURCE && applies(b, AclPermission::Deny))
        {
            return AuthorizationResult::Denied;
        }
        if literal()
            .any(|b| b.resource_name == WILDCARD_RESOURCE && applies(b, AclPermission::Allow))
        {
            return AuthorizationResult::Allowed;
        }
        let denied_by_prefix = |name: &str| {
            prefixed().any(|deny| {
                applies(deny, AclPermission::Deny) && name.starts_with(deny.resource_name.as_str())
            })
        };
        let literal_allowed = literal().any(|allow| {
            applies(allow, AclPermission::Allow)
                && !literal().any(|deny| {
                    applies(deny, AclPermission::Deny) && deny.resource_name == allow.resource_name
                })
                && !denied_by_prefix(&allow.resource_name)
        });
        let prefix_allowed = prefixed().any(|allow| {
            applies(allow, AclPermission::Allow) && !denied_by_prefix(&allow.resource_name)
        });
        if literal_allowed || prefix_allowed {
            AuthorizationResult::Allowed
        } else {
            AuthorizationResult::Denied
        }
    }

    /// [`Authorizer::authorize`] as a boolean.
    pub fn is_allowed(
        &self,
        acls: &AclTable,
        principal: &KafkaPrincipal,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> bool {
        self.authorize(
            acls,
            principal,
            host,
            operation,
            resource_type,
            resource_name,
        ) == AuthorizationResult::Allowed
    }
}

/// Whether an ALLOW of `granted` covers `requested` (ALL, the operation
/// itself, or an implied DESCRIBE / DESCRIBE_CONFIGS).
fn allow_covers(granted: AclOperation, requested: AclOperation) -> bool {
    if granted == AclOperation::All || granted == requested {
        return true;
    }
    match requested {
        AclOperation::Describe => matches!(
            granted,
            AclOperation::Read | AclOperation::Write | AclOperation::Delete | AclOperation::Alter
        ),
        AclOperation::DescribeConfigs => granted == AclOperation::AlterConfigs,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AclOperation::*;
    use AuthorizationResult::{Allowed, Denied};
    use ResourceType::{Group, Topic};

    fn acl(
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        host: &str,
        operation: AclOperation,
        permission: AclPermission,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: name.to_string(),
            pattern_type,
            principal: principal.to_string(),
            host: host.to_string(),
            operation,
            permission,
        }
    }

    /// An authorizer with its table.
    struct Checker {
        authorizer: Authorizer,
        acls: AclTable,
    }

    impl Checker {
        fn authorize(
            &self,
            principal: &KafkaPrincipal,
            host: &str,
            operation: AclOperation,
            resource_type: ResourceType,
            resource_name: &str,
        ) -> AuthorizationResult {
            self.authorizer.authorize(
                &self.acls,
                principal,
                host,
                operation,
                resource_type,
                resource_name,
            )
        }
        fn remove(&mut self, id: &AclId) -> Option<AclBinding> {
            self.acls.remove(id)
        }
        fn bindings(&self) -> &BTreeMap<AclId, AclBinding> {
            self.acls.bindings()
        }
    }

    fn authorizer_with(acls: Vec<AclBinding>) -> Checker {
        authorizer_with_settings(AuthorizerSettings::default(), acls)
    }

    fn authorizer_with_settings(
        settings: AuthorizerSettings,
        bindings: Vec<AclBinding>,
    ) -> Checker {
        let mut acls = AclTable::default();
        for (n, binding) in bindings.into_iter().enumerate() {
            let mut id = [0u8; 16];
            id[0] = u8::try_from(n).unwrap();
            acls.add(id, binding);
        }
        Checker {
            authorizer: Authorizer::new(settings),
            acls,
        }
    }

    fn alice() -> KafkaPrincipal {
        KafkaPrincipal::user("alice")
    }

    fn bob() -> KafkaPrincipal {
        KafkaPrincipal::user("bob")
    }

    #[test]
    fn simple_authorizations_follow_prefixes_literals_and_principals() {
        // StandardAuthorizerTest.testSimpleAuthorizations
        let authorizer = authorizer_with(vec![
            acl(
                Topic,
                "foo",
                PatternType::Prefixed,
                "User:alice",
                "*",
                All,
                AclPermission::Allow,
            ),
            acl(
                Topic,
                "foobar",
                PatternType::Literal,
                "User:bob",
                "*",
                Read,
                AclPermission::Allow,
            ),
            acl(
                Group,
                "*",
                PatternType::Literal,
                "User:*",
                "*",
                Read,
                AclPermission::Allow,
            ),
        ]);
        assert_eq!(
            authorizer.authorize(&alice(), "127.0.0.1", Write, Topic, "foobar"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&alice(), "127.0.0.1", Write, Topic, "foo"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&alice(), "127.0.0.1", Write, Topic, "fo"),
            Denied
        );
        assert_eq!(
            authorizer.authorize(&bob(), "127.0.0.1", Read, Topic, "foobar"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&bob(), "127.0.0.1", Write, Topic, "foobar"),
            Denied
        );
        assert_eq!(
            authorizer.authorize(&bob(), "127.0.0.1", Read, Topic, "foobaz"),
            Denied
        );
        assert_eq!(
            authorizer.authorize(&bob(), "127.0.0.1", Read, Group, "any-group"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&bob(), "127.0.0.1", Write, Group, "any-group"),
            Denied
        );
    }

    #[test]
    fn deny_wins_over_allow_including_deny_all() {
        // StandardAuthorizerTest.testDenyPrecedenceWithOperationAll
        let authorizer = authorizer_with(vec![
            acl(
                Topic,
                "foo",
                PatternType::Literal,
                "User:*",
                "*",
                All,
                AclPermission::Deny,
            ),
            acl(
                Topic,
                "foo",
                PatternType::Prefixed,
                "User:alice",
                "*",
                All,
                AclPermission::Allow,
            ),
            acl(
                Topic,
                "*",
                PatternType::Literal,
                "User:bob",
                "*",
                Read,
                AclPermission::Allow,
            ),
            acl(
                Topic,
                "foobar",
                PatternType::Literal,
                "User:bob",
                "*",
                Read,
                AclPermission::Deny,
            ),
        ]);
        for op in [Read, Write, Describe, Alter] {
            assert_eq!(
                authorizer.authorize(&alice(), "10.0.0.1", op, Topic, "foo"),
                Denied
            );
        }
        assert_eq!(
            authorizer.authorize(&alice(), "10.0.0.1", Read, Topic, "foo2"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&bob(), "10.0.0.1", Read, Topic, "other"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&bob(), "10.0.0.1", Read, Topic, "foobar"),
            Denied
        );
        // A DENY of one operation does not deny the operations it would imply.
        assert_eq!(
            authorizer.authorize(&bob(), "10.0.0.1", Describe, Topic, "other"),
            Allowed
        );
    }

    #[test]
    fn an_allow_of_all_grants_every_operation_on_its_resource_only() {
        // StandardAuthorizerTest.testTopicAclWithOperationAll
        let authorizer = authorizer_with(vec![acl(
            Topic,
            "foo",
            PatternType::Literal,
            "User:*",
            "*",
            All,
            AclPermission::Allow,
        )]);
        for op in AclOperation::ALL_VALUES
            .iter()
            .copied()
            .filter(|op| *op != Any)
        {
            assert_eq!(
                authorizer.authorize(&alice(), "1.2.3.4", op, Topic, "foo"),
                Allowed
            );
        }
        assert_eq!(
            authorizer.authorize(&alice(), "1.2.3.4", Read, Topic, "bar"),
            Denied
        );
        assert_eq!(
            authorizer.authorize(&alice(), "1.2.3.4", Read, Group, "foo"),
            Denied
        );
    }

    #[test]
    fn read_write_delete_and_alter_imply_describe_and_alter_configs_implies_describe_configs() {
        for op in [Read, Write, Delete, Alter] {
            let authorizer = authorizer_with(vec![acl(
                Topic,
                "t",
                PatternType::Literal,
                "User:alice",
                "*",
                op,
                AclPermission::Allow,
            )]);
            assert_eq!(
                authorizer.authorize(&alice(), "h", Describe, Topic, "t"),
                Allowed
            );
            assert_eq!(
                authorizer.authorize(&alice(), "h", DescribeConfigs, Topic, "t"),
                Denied
            );
        }
        let authorizer = authorizer_with(vec![acl(
            Topic,
            "t",
            PatternType::Literal,
            "User:alice",
            "*",
            AlterConfigs,
            AclPermission::Allow,
        )]);
        assert_eq!(
            authorizer.authorize(&alice(), "h", DescribeConfigs, Topic, "t"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&alice(), "h", Describe, Topic, "t"),
            Denied
        );
        let authorizer = authorizer_with(vec![acl(
            Topic,
            "t",
            PatternType::Literal,
            "User:alice",
            "*",
            Create,
            AclPermission::Allow,
        )]);
        assert_eq!(
            authorizer.authorize(&alice(), "h", Describe, Topic, "t"),
            Denied
        );
    }

    #[test]
    fn hosts_match_exactly_or_by_wildcard() {
        // StandardAuthorizerTest.testHostAddressAclValidation
        let authorizer = authorizer_with(vec![
            acl(
                Topic,
                "t",
                PatternType::Literal,
                "User:alice",
                "192.168.0.1",
                Read,
                AclPermission::Allow,
            ),
            acl(
                Topic,
                "t",
                PatternType::Literal,
                "User:*",
                "192.168.0.2",
                Read,
                AclPermission::Deny,
            ),
        ]);
        assert_eq!(
            authorizer.authorize(&alice(), "192.168.0.1", Read, Topic, "t"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&alice(), "192.168.0.2", Read, Topic, "t"),
            Denied
        );
        assert_eq!(
            authorizer.authorize(&alice(), "192.168.0.3", Read, Topic, "t"),
            Denied
        );
    }

    #[test]
    fn super_users_are_allowed_everything_even_against_deny() {
        let settings = AuthorizerSettings::from_properties(
            STANDARD_AUTHORIZER_CLASS_NAME,
            "User:admin; User:ops",
            false,
        )
        .unwrap()
        .unwrap();
        let authorizer = authorizer_with_settings(
            settings,
            vec![acl(
                Topic,
                "t",
                PatternType::Literal,
                "User:*",
                "*",
                All,
                AclPermission::Deny,
            )],
        );
        for name in ["admin", "ops"] {
            let admin = KafkaPrincipal::user(name);
            assert_eq!(
                authorizer.authorize(&admin, "h", Write, Topic, "t"),
                Allowed
            );
            assert_eq!(
                authorizer.authorize(
                    &admin,
                    "h",
                    ClusterAction,
                    ResourceType::Cluster,
                    "kafka-cluster"
                ),
                Allowed
            );
        }
        assert_eq!(
            authorizer.authorize(&alice(), "h", Write, Topic, "t"),
            Denied
        );
    }

    #[test]
    fn resources_without_acls_are_open_only_under_allow_everyone_if_no_acl_found() {
        let closed = authorizer_with(vec![]);
        assert_eq!(closed.authorize(&alice(), "h", Read, Topic, "t"), Denied);
        let settings = AuthorizerSettings {
            allow_everyone_if_no_acl_found: true,
            ..AuthorizerSettings::default()
        };
        let open = authorizer_with_settings(
            settings,
            vec![acl(
                Topic,
                "secret",
                PatternType::Prefixed,
                "User:bob",
                "*",
                Read,
                AclPermission::Allow,
            )],
        );
        assert_eq!(open.authorize(&alice(), "h", Read, Topic, "t"), Allowed);
        // Some ACL exists for the resource (for someone else): no fallback.
        assert_eq!(
            open.authorize(&alice(), "h", Read, Topic, "secret-x"),
            Denied
        );
        assert_eq!(
            open.authorize(&bob(), "h", Read, Topic, "secret-x"),
            Allowed
        );
    }

    #[test]
    fn removed_bindings_stop_applying() {
        let mut authorizer = authorizer_with(vec![acl(
            Topic,
            "t",
            PatternType::Prefixed,
            "User:alice",
            "*",
            Read,
            AclPermission::Allow,
        )]);
        assert_eq!(
            authorizer.authorize(&alice(), "h", Read, Topic, "t1"),
            Allowed
        );
        assert!(authorizer.remove(&[0u8; 16]).is_some());
        assert!(authorizer.remove(&[0u8; 16]).is_none());
        assert_eq!(
            authorizer.authorize(&alice(), "h", Read, Topic, "t1"),
            Denied
        );
        assert!(authorizer.bindings().is_empty());
    }

    #[test]
    fn prefixes_are_cut_at_character_boundaries() {
        let authorizer = authorizer_with(vec![acl(
            Topic,
            "é",
            PatternType::Prefixed,
            "User:alice",
            "*",
            Read,
            AclPermission::Allow,
        )]);
        assert_eq!(
            authorizer.authorize(&alice(), "h", Read, Topic, "éa"),
            Allowed
        );
        assert_eq!(
            authorizer.authorize(&alice(), "h", Read, Topic, "é"),
            Allowed
        );
    }

    #[test]
    fn unsupported_authorizer_classes_are_refused_and_empty_means_none() {
        assert_eq!(AuthorizerSettings::from_properties("", "", false), Ok(None));
        assert!(
            AuthorizerSettings::from_properties(ACL_AUTHORIZER_CLASS_NAME, "", false)
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            AuthorizerSettings::from_properties("com.example.Custom", "", false),
            Err(AuthorizerError::UnsupportedClass(_))
        ));
        assert!(matches!(
            AuthorizerSettings::from_properties(STANDARD_AUTHORIZER_CLASS_NAME, "admin", false),
            Err(AuthorizerError::SuperUser(_))
        ));
    }

    #[test]
    fn authorize_by_resource_type_needs_an_allow_no_deny_covers() {
        // AuthorizerTest / AclAuthorizerTest.testAuthorizeByResourceType*.
        let by_type = |checker: &Checker, who: &KafkaPrincipal| {
            checker.authorizer.authorize_by_resource_type(
                &checker.acls,
                who,
                "127.0.0.1",
                Write,
                Topic,
            )
        };
        let allow = |name: &str, pattern: PatternType, operation: AclOperation| {
            acl(
                Topic,
                name,
                pattern,
                "User:alice",
                "*",
                operation,
                AclPermission::Allow,
            )
        };
        let deny = |name: &str, pattern: PatternType| {
            acl(
                Topic,
                name,
                pattern,
                "User:alice",
                "*",
                Write,
                AclPermission::Deny,
            )
        };
        assert_eq!(by_type(&authorizer_with(vec![]), &alice()), Denied);
        let one_topic = authorizer_with(vec![allow("orders", PatternType::Literal, Write)]);
        assert_eq!(by_type(&one_topic, &alice()), Allowed);
        assert_eq!(by_type(&one_topic, &bob()), Denied);
        // READ does not imply WRITE.
        let read_only = authorizer_with(vec![allow("orders", PatternType::Literal, Read)]);
        assert_eq!(by_type(&read_only, &alice()), Denied);
        // A literal DENY of the same name, or a prefix DENY of it, covers it.
        let same_name = authorizer_with(vec![
            allow("orders", PatternType::Literal, Write),
            deny("orders", PatternType::Literal),
        ]);
        assert_eq!(by_type(&same_name, &alice()), Denied);
        let by_prefix = authorizer_with(vec![
            allow("orders-eu", PatternType::Prefixed, All),
            deny("orders", PatternType::Prefixed),
        ]);
        assert_eq!(by_type(&by_prefix, &alice()), Denied);
        // A DENY of another name leaves the ALLOW standing.
        let other = authorizer_with(vec![
            allow("orders", PatternType::Literal, Write),
            deny("payments", PatternType::Literal),
        ]);
        assert_eq!(by_type(&other, &alice()), Allowed);
        // A wildcard DENY wins over everything but a super user.
        let wildcard_deny = authorizer_with_settings(
            AuthorizerSettings {
                super_users: vec![bob()],
                allow_everyone_if_no_acl_found: false,
            },
            vec![
                allow("*", PatternType::Literal, Write),
                deny("*", PatternType::Literal),
            ],
        );
        assert_eq!(by_type(&wildcard_deny, &alice()), Denied);
        assert_eq!(by_type(&wildcard_deny, &bob()), Allowed);
        // An open resource type with no ACL at all.
        let open = authorizer_with_settings(
            AuthorizerSettings {
                super_users: Vec::new(),
                allow_everyone_if_no_acl_found: true,
            },
            vec![],
        );
        assert_eq!(by_type(&open, &alice()), Allowed);
    }
}
