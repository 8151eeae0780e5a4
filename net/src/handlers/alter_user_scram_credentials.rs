//! AlterUserScramCredentials: creates, replaces and removes users' SCRAM
//! credentials through the active controller (forwarded from any node),
//! which stores them salted in the metadata log. One result per user.

use kafka_protocol::messages::alter_user_scram_credentials_request::AlterUserScramCredentialsRequest;
use kafka_protocol::messages::alter_user_scram_credentials_response::{
    AlterUserScramCredentialsResponse, AlterUserScramCredentialsResult,
};

use super::{message, str_bytes};
use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_message::{
    ControlError, ControlReply, ControlRequest, ScramDeletion, ScramUpsertion,
};
use crate::shard_state::ShardState;
use skein_controller::AclOperation;

/// The control request of an AlterUserScramCredentials.
pub fn control_request(request: &AlterUserScramCredentialsRequest) -> ControlRequest {
    ControlRequest::AlterUserScramCredentials {
        deletions: request
            .deletions
            .iter()
            .map(|d| ScramDeletion {
                name: d.name.to_string(),
                mechanism: d.mechanism,
            })
            .collect(),
        upsertions: request
            .upsertions
            .iter()
            .map(|u| ScramUpsertion {
                name: u.name.to_string(),
                mechanism: u.mechanism,
                iterations: u.iterations,
                salt: u.salt.to_vec(),
                salted_password: u.salted_password.to_vec(),
            })
            .collect(),
    }
}

/// The Kafka response of the per-user outcomes in `reply`.
pub fn response(reply: ControlReply) -> AlterUserScramCredentialsResponse {
    let results = match reply {
        ControlReply::AlteredScramCredentials(results) => results,
        _ => {
            tracing::error!("control reply of another kind to AlterUserScramCredentials");
            Vec::new()
        }
    };
    AlterUserScramCredentialsResponse::default().with_results(
        results
            .into_iter()
            .map(|(user, outcome)| {
                let result = AlterUserScramCredentialsResult::default().with_user(str_bytes(&user));
                match outcome {
                    Ok(()) => result,
                    Err(error) => result
                        .with_error_code(error.code().code())
                        .with_error_message(message(&error)),
                }
            })
            .collect(),
    )
}

/// Answers an AlterUserScramCredentials request.
/// Kafka: ALTER on the cluster, else every user is
/// CLUSTER_AUTHORIZATION_FAILED.
pub async fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    if !caller.may_on_cluster(AclOperation::Alter) {
        let mut users: Vec<&str> = Vec::new();
        let named = request
            .deletions
            .iter()
            .map(|d| d.name.as_str())
            .chain(request.upsertions.iter().map(|u| u.name.as_str()));
        for name in named {
            if !users.contains(&name) {
                users.push(name);
            }
        }
        return AlterUserScramCredentialsResponse::default().with_results(
            users
                .into_iter()
                .map(|user| {
                    AlterUserScramCredentialsResult::default()
                        .with_user(str_bytes(user))
                        .with_error_code(ErrorCode::ClusterAuthorizationFailed.code())
                })
                .collect(),
        );
    }
    let control = control_request(&request);
    let reply = match ctx.control(control).await {
        Some(reply) => reply,
        None => {
            let mut users: Vec<String> = Vec::new();
            let named = request
                .deletions
                .iter()
                .map(|d| &d.name)
                .chain(request.upsertions.iter().map(|u| &u.name));
            for name in named {
                if !users.iter().any(|u| u == name.as_str()) {
                    users.push(name.to_string());
                }
            }
            ControlReply::AlteredScramCredentials(
                users
                    .into_iter()
                    .map(|user| (user, Err(ControlError::Unavailable)))
                    .collect(),
            )
        }
    };
    response(reply)
}
