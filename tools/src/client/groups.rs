//! Consumer-group administration: FindCoordinator, ListGroups,
//! DescribeGroups, DeleteGroups. Group requests go to the group's
//! coordinator; [`Connection::find_group_coordinator`] says which broker.
use kafka_protocol::messages::{
    ApiKey, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, GroupId,
    ListGroupsRequest,
};
use kafka_protocol::protocol::StrBytes;

use super::response_error::check_error_code;
use super::{BrokerAddress, ClientError, Connection};

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// `consumer` for Kafka consumers, empty for groups that only commit offsets.
    pub protocol_type: String,
    /// `Empty`, `Stable`, `PreparingRebalance`, …; empty if the broker is older than v4.
    pub state: String,
}

/// One member of a described group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupMember {
    /// Member id the coordinator assigned.
    pub member_id: String,
    /// Static membership id, if any.
    pub group_instance_id: Option<String>,
    /// The member's client id.
    pub client_id: String,
    /// The member's host as the coordinator saw it.
    pub client_host: String,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Empty`, `Stable`, `Dead` (unknown group), …
    pub state: String,
    /// Protocol type (`consumer`).
    pub protocol_type: String,
    /// The chosen assignor (`range`, `roundrobin`, …).
    pub protocol: String,
    /// Current members.
    pub members: Vec<GroupMember>,
}

fn text(value: &StrBytes) -> String {
    value.as_str().to_owned()
}

impl Connection {
    /// The coordinator of `group`.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] e.g.
    /// COORDINATOR_NOT_AVAILABLE.
    pub fn find_group_coordinator(&mut self, group: &str) -> Result<BrokerAddress, ClientError> {
        // v0-3 carry one key, v4+ a list; the encoder refuses a field its
        // version lacks, so fill the one the negotiated version has.
        let key = StrBytes::from_string(group.to_owned());
        let request = if self.versions().pick::<FindCoordinatorRequest>()? >= 4 {
            FindCoordinatorRequest::default()
                .with_key_type(0)
                .with_coordinator_keys(vec![key])
        } else {
            FindCoordinatorRequest::default()
                .with_key(key)
                .with_key_type(0)
        };
        let response = self.call(&request)?;
        if let Some(coordinator) = response.coordinators.first() {
            check_error_code(
                ApiKey::FindCoordinator,
                coordinator.error_code,
                group,
                coordinator.error_message.as_ref(),
            )?;
            return Ok(BrokerAddress {
                host: text(&coordinator.host),
                port: u16::try_from(coordinator.port).unwrap_or(0),
            });
        }
        check_error_code(
            ApiKey::FindCoordinator,
            response.error_code,
            group,
            response.error_message.as_ref(),
        )?;
        Ok(BrokerAddress {
            host: text(&response.host),
            port: u16::try_from(response.port).unwrap_or(0),
        })
    }

    /// The groups this broker coordinates, sorted by id.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; a top-level Kafka error code.
    pub fn list_groups(&mut self) -> Result<Vec<ListedGroup>, ClientError> {
        let response = self.call(&ListGroupsRequest::default())?;
        check_error_code(ApiKey::ListGroups, response.error_code, "", None)?;
        let mut groups: Vec<ListedGroup> = response
            .groups
            .iter()
            .map(|group| ListedGroup {
                group_id: text(&group.group_id.0),
                protocol_type: text(&group.protocol_type),
                state: text(&group.group_state),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// Describes `group` (this broker must coordinate it). An unknown group
    /// is described as `Dead` with no members, as Kafka does.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] for the
    /// group's error code (e.g. NOT_COORDINATOR, GROUP_ID_NOT_FOUND).
    pub fn describe_group(&mut self, group: &str) -> Result<GroupDescription, ClientError> {
        let request = DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.to_owned()))]);
        let response = self.call(&request)?;
        let described = response
            .groups
            .iter()
            .find(|described| described.group_id.0.as_str() == group)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::DescribeGroups,
                version: -1,
                message: format!("response does not mention group {group:?}"),
            })?;
        check_error_code(
            ApiKey::DescribeGroups,
            described.error_code,
            group,
            described.error_message.as_ref(),
        )?;
        Ok(GroupDescription {
            group_id: group.to_owned(),
            state: text(&described.group_state),
            protocol_type: text(&described.protocol_type),
            protocol: text(&described.protocol_data),
            members: described
                .members
                .iter()
                .map(|member| GroupMember {
                    member_id: text(&member.member_id),
                    group_instance_id: member.group_instance_id.as_ref().map(text),
                    client_id: text(&member.client_id),
                    client_host: text(&member.client_host),
                })
                .collect(),
        })
    }

    /// Deletes `group` and its committed offsets (it must have no members).
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] e.g.
    /// GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP.
    pub fn delete_group(&mut self, group: &str) -> Result<(), ClientError> {
        let request = DeleteGroupsRequest::default()
            .with_groups_names(vec![GroupId(StrBytes::from_string(group.to_owned()))]);
        let response = self.call(&request)?;
        let result = response
            .results
            .iter()
            .find(|result| result.group_id.0.as_str() == group)
            .ok_or_else(|| ClientError::Decode {
                api: ApiKey::DeleteGroups,
                version: -1,
                message: format!("response does not mention group {group:?}"),
            })?;
        check_error_code(ApiKey::DeleteGroups, result.error_code, group, None)
    }
}
