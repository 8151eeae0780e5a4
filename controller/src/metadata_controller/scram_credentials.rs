//! The SCRAM credential rules of AlterUserScramCredentials (Kafka's
//! `ScramControlManager`): which upsertions and deletions are accepted, and
//! the records they write — one [`MetadataRecord::UserScramCredential`] per
//! upsertion (the stored and server keys derived here from the salted
//! password the client sent, which is then dropped) and one
//! [`MetadataRecord::RemoveUserScramCredential`] per deletion.
//!
//! Outcomes are per user, as Kafka gives them: if any change of a user is
//! refused, none of that user's changes is made.

use super::{ControllerResult, MetadataController};
use crate::error::ControllerError;
use crate::metadata_record::MetadataRecord;
use crate::scram_credential::{
    ScramCredential, ScramMechanism, SCRAM_BYTES_MAX, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN,
};

/// Create or replace a user's credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramUpsertion {
    /// The user.
    pub name: String,
    /// Kafka's mechanism type: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
    pub mechanism: i8,
    /// PBKDF2 iterations, in [4096, 16384].
    pub iterations: i32,
    /// The salt the client chose.
    pub salt: Vec<u8>,
    /// `Hi(password, salt, iterations)`, computed by the client.
    pub salted_password: Vec<u8>,
}

/// Remove a user's credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramDeletion {
    /// The user.
    pub name: String,
    /// Kafka's mechanism type.
    pub mechanism: i8,
}

impl MetadataController {
    /// AlterUserScramCredentials: one outcome per user named, in order of
    /// first appearance (deletions first, as the request lists them).
    pub fn alter_user_scram_credentials(
        &self,
        deletions: Vec<ScramDeletion>,
        upsertions: Vec<ScramUpsertion>,
    ) -> ControllerResult<Vec<(String, Result<(), ControllerError>)>> {
        let mut users: Vec<String> = Vec::new();
        let mut pairs: Vec<(&str, i8)> = Vec::new();
        let mut duplicates: Vec<&str> = Vec::new();
        let named = deletions
            .iter()
            .map(|d| (d.name.as_str(), d.mechanism))
            .chain(upsertions.iter().map(|u| (u.name.as_str(), u.mechanism)));
        for (name, mechanism) in named {
            if !users.iter().any(|u| u == name) {
                users.push(name.to_string());
            }
            if pairs.contains(&(name, mechanism)) {
                duplicates.push(name);
            }
            pairs.push((name, mechanism));
        }
        let mut records = Vec::new();
        let response = users
            .into_iter()
            .map(|user| {
                let outcome = if duplicates.contains(&user.as_str()) {
                    Err(ControllerError::DuplicateScramCredential)
                } else {
                    self.user_records(&user, &deletions, &upsertions)
                        .map(|user_records| records.extend(user_records))
                };
                (user, outcome)
            })
            .collect();
        ControllerResult { records, response }
    }

    /// The records of `user`'s changes, or why they are refused.
    fn user_records(
        &self,
        user: &str,
        deletions: &[ScramDeletion],
        upsertions: &[ScramUpsertion],
    ) -> Result<Vec<MetadataRecord>, ControllerError> {
        if user.is_empty() {
            return Err(ControllerError::UnacceptableCredential(
                "Username must not be empty",
            ));
        }
        if user.len() > usize::from(u16::MAX) {
            return Err(ControllerError::UnacceptableCredential("Username too long"));
        }
        let mut records = Vec::new();
        for deletion in deletions.iter().filter(|d| d.name == user) {
            let mechanism = ScramMechanism::from_type_code(deletion.mechanism)
                .ok_or(ControllerError::UnknownScramMechanism)?;
            if self.image.scram_credential(user, mechanism).is_none() {
                return Err(ControllerError::ScramCredentialNotFound("delete"));
            }
            records.push(MetadataRecord::RemoveUserScramCredential {
                name: user.to_string(),
                mechanism,
            });
        }
        for upsertion in upsertions.iter().filter(|u| u.name == user) {
            let mechanism = ScramMechanism::from_type_code(upsertion.mechanism)
                .ok_or(ControllerError::UnknownScramMechanism)?;
            if upsertion.iterations < SCRAM_ITERATIONS_MIN {
                return Err(ControllerError::UnacceptableCredential(
                    "Too few iterations",
                ));
            }
            if upsertion.iterations > SCRAM_ITERATIONS_MAX {
                return Err(ControllerError::UnacceptableCredential(
                    "Too many iterations",
                ));
            }
            if upsertion.salt.is_empty() || upsertion.salt.len() > SCRAM_BYTES_MAX {
                return Err(ControllerError::UnacceptableCredential(
                    "Salt must be between 1 and 1024 bytes",
                ));
            }
            if upsertion.salted_password.is_empty()
                || upsertion.salted_password.len() > SCRAM_BYTES_MAX
            {
                return Err(ControllerError::UnacceptableCredential(
                    "Salted password must be between 1 and 1024 bytes",
                ));
            }
            records.push(MetadataRecord::UserScramCredential {
                name: user.to_string(),
                mechanism,
                credential: ScramCredential::from_salted_password(
                    mechanism,
                    upsertion.salt.clone(),
                    &upsertion.salted_password,
                    upsertion.iterations,
                ),
            });
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata_controller::ControllerSettings;

    fn upsert(name: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            name: name.into(),
            mechanism,
            iterations,
            salt: vec![7; 16],
            salted_password: vec![9; 32],
        }
    }

    fn controller() -> MetadataController {
        MetadataController::replay(ControllerSettings::defaults(0), [])
    }

    #[test]
    fn upserted_credentials_are_stored_salted_and_deleted_again() {
        let mut controller = controller();
        let proposal = controller.alter_user_scram_credentials(
            vec![],
            vec![upsert("alice", 1, 4096), upsert("alice", 2, 8192)],
        );
        assert_eq!(proposal.response, vec![("alice".to_string(), Ok(()))]);
        assert_eq!(proposal.records.len(), 2);
        let image = controller.apply_committed(&proposal.records);
        let stored = image
            .scram_credential("alice", ScramMechanism::Sha256)
            .unwrap();
        assert_eq!(stored.iterations, 4096);
        assert_ne!(stored.stored_key, vec![9; 32], "never the salted password");
        assert_eq!(
            stored,
            &ScramCredential::from_salted_password(
                ScramMechanism::Sha256,
                vec![7; 16],
                &[9; 32],
                4096
            )
        );
        let deletion = controller.alter_user_scram_credentials(
            vec![ScramDeletion {
                name: "alice".into(),
                mechanism: 1,
            }],
            vec![],
        );
        let image = controller.apply_committed(&deletion.records);
        assert!(image
            .scram_credential("alice", ScramMechanism::Sha256)
            .is_none());
        assert!(image
            .scram_credential("alice", ScramMechanism::Sha512)
            .is_some());
    }

    #[test]
    fn refusals_are_per_user_with_kafkas_reasons() {
        let proposal = controller().alter_user_scram_credentials(
            vec![ScramDeletion {
                name: "ghost".into(),
                mechanism: 1,
            }],
            vec![
                upsert("few", 1, 4095),
                upsert("many", 2, 16385),
                upsert("unknown", 0, 4096),
                upsert("twice", 1, 4096),
                upsert("twice", 1, 5000),
                upsert("", 1, 4096),
                upsert("fine", 1, 4096),
            ],
        );
        let outcome = |user: &str| {
            proposal
                .response
                .iter()
                .find(|(u, _)| u == user)
                .map(|(_, r)| r)
                .unwrap()
        };
        assert_eq!(
            *outcome("ghost"),
            Err(ControllerError::ScramCredentialNotFound("delete"))
        );
        assert_eq!(
            *outcome("few"),
            Err(ControllerError::UnacceptableCredential(
                "Too few iterations"
            ))
        );
        assert_eq!(
            *outcome("many"),
            Err(ControllerError::UnacceptableCredential(
                "Too many iterations"
            ))
        );
        assert_eq!(
            *outcome("unknown"),
            Err(ControllerError::UnknownScramMechanism)
        );
        assert_eq!(
            *outcome("twice"),
            Err(ControllerError::DuplicateScramCredential)
        );
        assert!(matches!(
            *outcome(""),
            Err(ControllerError::UnacceptableCredential(_))
        ));
        assert_eq!(*outcome("fine"), Ok(()));
        assert_eq!(proposal.records.len(), 1, "only the accepted user writes");
    }
}
