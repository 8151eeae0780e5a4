//! DescribeUserScramCredentials: each user's SCRAM mechanisms and iteration
//! counts, from the metadata image (never salts or keys). No users (null or
//! empty) describes every user.

use kafka_protocol::messages::describe_user_scram_credentials_request::DescribeUserScramCredentialsRequest;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResponse, DescribeUserScramCredentialsResult,
};

use super::str_bytes;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// Answers a DescribeUserScramCredentials request.
/// Kafka: DESCRIBE on the cluster.
pub fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    if !caller.may_on_cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ErrorCode::ClusterAuthorizationFailed.code());
    }
    let image = ctx.image();
    let describe = |user: &str| {
        let result = DescribeUserScramCredentialsResult::default().with_user(str_bytes(user));
        match image.scram_credentials_of(user) {
            Some(credentials) => result.with_credential_infos(
                credentials
                    .iter()
                    .map(|(mechanism, credential)| {
                        CredentialInfo::default()
                            .with_mechanism(mechanism.type_code())
                            .with_iterations(credential.iterations)
                    })
                    .collect(),
            ),
            None => result
                .with_error_code(ErrorCode::ResourceNotFound.code())
                .with_error_message(Some(str_bytes(&format!(
                    "Attempt to describe a user credential that does not exist: {user}"
                )))),
        }
    };
    let names: Vec<String> = request
        .users
        .unwrap_or_default()
        .into_iter()
        .map(|user| user.name.to_string())
        .collect();
    let results = if names.is_empty() {
        image
            .scram_users()
            .map(|(user, _)| describe(user))
            .collect()
    } else {
        let mut seen: Vec<&str> = Vec::new();
        let mut results = Vec::new();
        for name in &names {
            if seen.contains(&name.as_str()) {
                continue;
            }
            seen.push(name);
            if names.iter().filter(|n| *n == name).count() > 1 {
                results.push(
                    DescribeUserScramCredentialsResult::default()
                        .with_user(str_bytes(name))
                        .with_error_code(ErrorCode::DuplicateResource.code())
                        .with_error_message(Some(str_bytes(&format!(
                            "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                        )))),
                );
            } else {
                results.push(describe(name));
            }
        }
        results
    };
    DescribeUserScramCredentialsResponse::default().with_results(results)
}
