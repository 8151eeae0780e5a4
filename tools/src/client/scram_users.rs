//! SCRAM users: AlterUserScramCredentials (create or replace a credential,
//! salted here — the password never leaves this process; remove one) and
//! DescribeUserScramCredentials.
use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiKey, DescribeUserScramCredentialsRequest,
};
use kafka_protocol::protocol::StrBytes;
use skein_controller::ScramMechanism;

use super::{ClientError, Connection};

/// One user's SCRAM credentials: (mechanism, iterations) each.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScramUser {
    /// The user.
    pub name: String,
    /// Its mechanisms and iteration counts.
    pub credentials: Vec<(String, i32)>,
}

fn kafka_error(code: i16, user: &str, message: Option<StrBytes>, api: ApiKey) -> ClientError {
    ClientError::Kafka {
        api,
        code,
        context: Some(format!("user {user}")),
        message: message.map(|m| m.to_string()),
    }
}

impl Connection {
    /// Creates or replaces `user`'s `mechanism` credential for `password`,
    /// salted with a random salt and `iterations` PBKDF2 rounds.
    ///
    /// # Errors
    /// The broker's per-user error (UNACCEPTABLE_CREDENTIAL, …).
    pub fn upsert_scram_user(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
        password: &str,
        iterations: i32,
    ) -> Result<(), ClientError> {
        let salt: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(StrBytes::from_string(user.to_owned()))
                .with_mechanism(mechanism.type_code())
                .with_iterations(iterations)
                .with_salt(Bytes::from(salt))
                .with_salted_password(Bytes::from(salted)),
        ]);
        self.alter_scram(request, user)
    }

    /// Removes `user`'s `mechanism` credential.
    ///
    /// # Errors
    /// The broker's per-user error (RESOURCE_NOT_FOUND when it has none).
    pub fn delete_scram_user(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Result<(), ClientError> {
        let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![
            ScramCredentialDeletion::default()
                .with_name(StrBytes::from_string(user.to_owned()))
                .with_mechanism(mechanism.type_code()),
        ]);
        self.alter_scram(request, user)
    }

    fn alter_scram(
        &mut self,
        request: AlterUserScramCredentialsRequest,
        user: &str,
    ) -> Result<(), ClientError> {
        let response = self.call(&request)?;
        for result in response.results {
            if result.error_code != 0 {
                return Err(kafka_error(
                    result.error_code,
                    user,
                    result.error_message,
                    ApiKey::AlterUserScramCredentials,
                ));
            }
        }
        Ok(())
    }

    /// The SCRAM credentials of `users`, or of every user when empty.
    ///
    /// # Errors
    /// The broker's error for a user (RESOURCE_NOT_FOUND for one without
    /// credentials).
    pub fn describe_scram_users(
        &mut self,
        users: &[String],
    ) -> Result<Vec<ScramUser>, ClientError> {
        let request = DescribeUserScramCredentialsRequest::default().with_users(Some(
            users
                .iter()
                .map(|u| UserName::default().with_name(StrBytes::from_string(u.clone())))
                .collect(),
        ));
        let response = self.call(&request)?;
        if response.error_code != 0 {
            return Err(kafka_error(
                response.error_code,
                "*",
                response.error_message,
                ApiKey::DescribeUserScramCredentials,
            ));
        }
        response
            .results
            .into_iter()
            .map(|result| {
                if result.error_code != 0 {
                    return Err(kafka_error(
                        result.error_code,
                        &result.user,
                        result.error_message,
                        ApiKey::DescribeUserScramCredentials,
                    ));
                }
                Ok(ScramUser {
                    name: result.user.to_string(),
                    credentials: result
                        .credential_infos
                        .iter()
                        .map(|info| {
                            let name = ScramMechanism::from_type_code(info.mechanism).map_or_else(
                                || format!("UNKNOWN({})", info.mechanism),
                                |m| m.mechanism_name().to_owned(),
                            );
                            (name, info.iterations)
                        })
                        .collect(),
                })
            })
            .collect()
    }
}
