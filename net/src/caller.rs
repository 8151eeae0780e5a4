//! The caller of a request: the principal its connection authenticated as
//! and the host it connects from, and the ACL checks Kafka's `AuthHelper`
//! makes on them. Without an authorizer (`authorizer.class.name` empty)
//! every check passes without looking at anything, so nothing changes for
//! a broker without ACLs.
//!
//! A check borrows the connection's authenticator only for its duration
//! (requests of one connection run concurrently, and a re-authentication
//! replaces the principal) and allocates nothing: the produce and fetch
//! paths check every topic of every request.

use std::cell::RefCell;

use skein_controller::{
    AclOperation, AuthorizationResult, Authorizer, ResourceType, CLUSTER_RESOURCE_NAME,
};

use crate::authenticator::Authenticator;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// Who sends a request, and what they may do.
///
/// Lives on: the connection's shard, for one request.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    ctx: &'a ShardState,
    auth: &'a RefCell<Authenticator>,
    /// The client's address without Kafka's leading `/` (ACL hosts are
    /// plain addresses).
    host: &'a str,
}

impl<'a> Caller<'a> {
    /// The caller authenticated by `auth`, connecting from `client_host`
    /// (an address, as Kafka shows it, `/ip`, or without the slash).
    pub fn new(
        ctx: &'a ShardState,
        auth: &'a RefCell<Authenticator>,
        client_host: &'a str,
    ) -> Caller<'a> {
        Caller {
            ctx,
            auth,
            host: client_host.strip_prefix('/').unwrap_or(client_host),
        }
    }

    fn authorizer(&self) -> Option<&'a Authorizer> {
        self.ctx.authorizer.as_ref()
    }

    /// Whether the caller may do `operation` on the resource (always,
    /// without an authorizer).
    pub fn may(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> bool {
        if self.authorizer().is_none() {
            return true;
        }
        let auth = self.auth.borrow();
        self.ctx.is_authorized(
            auth.principal(),
            self.host,
            operation,
            resource_type,
            resource_name,
        )
    }

    /// Whether the caller may do `operation` on the cluster.
    pub fn may_on_cluster(&self, operation: AclOperation) -> bool {
        self.may(operation, ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    }

    /// Whether the caller may do `operation` on the topic `name`.
    pub fn may_on_topic(&self, operation: AclOperation, name: &str) -> bool {
        self.may(operation, ResourceType::Topic, name)
    }

    /// Whether the caller may do `operation` on the consumer group `group_id`.
    pub fn may_on_group(&self, operation: AclOperation, group_id: &str) -> bool {
        self.may(operation, ResourceType::Group, group_id)
    }

    /// Whether the caller may do `operation` on `transactional_id`.
    pub fn may_on_transactional_id(&self, operation: AclOperation, transactional_id: &str) -> bool {
        self.may(operation, ResourceType::TransactionalId, transactional_id)
    }

    /// Whether the caller may do `operation` on at least one resource of
    /// `resource_type` (Kafka's `authorizeByResourceType`).
    pub fn may_on_some(&self, operation: AclOperation, resource_type: ResourceType) -> bool {
        let Some(authorizer) = self.authorizer() else {
            return true;
        };
        let auth = self.auth.borrow();
        let image = self.ctx.image();
        authorizer.authorize_by_resource_type(
            image.acls(),
            auth.principal(),
            self.host,
            operation,
            resource_type,
        ) == AuthorizationResult::Allowed
    }

    /// Why a transactional producer may not act for a consumer group
    /// (AddOffsetsToTxn, TxnOffsetCommit), as Kafka checks it: WRITE on the
    /// transactional id first, then READ on the group.
    pub fn transactional_group_refusal(
        &self,
        transactional_id: &str,
        group_id: &str,
    ) -> Option<ErrorCode> {
        if !self.may_on_transactional_id(AclOperation::Write, transactional_id) {
            Some(ErrorCode::TransactionalIdAuthorizationFailed)
        } else if !self.may_on_group(AclOperation::Read, group_id) {
            Some(ErrorCode::GroupAuthorizationFailed)
        } else {
            None
        }
    }

    /// The KIP-430 bit field of the operations among `supported` (a bit
    /// field of ACL operation codes, see `authorized_operations`) the
    /// caller may do on the resource: all of them without an authorizer.
    pub fn authorized_operations(
        &self,
        supported: i32,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> i32 {
        if self.authorizer().is_none() {
            return supported;
        }
        let mut allowed = 0;
        for code in 0..31i8 {
            let bit = 1i32 << code;
            if supported & bit == 0 {
                continue;
            }
            let Some(operation) = AclOperation::from_code(code) else {
                continue;
            };
            if self.may(operation, resource_type, resource_name) {
                allowed |= bit;
            }
        }
        allowed
    }
}
