//! The ACL rules of CreateAcls and DeleteAcls (Kafka's `AclControlManager`):
//! a new binding is validated and written as one
//! [`MetadataRecord::AccessControlEntry`] (a binding that already exists is
//! accepted and written no second time); a deletion filter removes every
//! binding it matches with one [`MetadataRecord::RemoveAccessControlEntry`]
//! each, and reports the bindings it removed.

use super::{ControllerResult, MetadataController};
use crate::acl::{AclBinding, AclBindingFilter, AclId};
use crate::error::ControllerError;
use crate::metadata_record::MetadataRecord;

impl MetadataController {
    /// CreateAcls: one outcome per creation, in order. Each creation carries
    /// the id its record takes (random in a broker, scripted in tests).
    pub fn create_acls(
        &self,
        creations: Vec<(AclId, AclBinding)>,
    ) -> ControllerResult<Vec<Result<(), ControllerError>>> {
        let mut records = Vec::new();
        let mut created: Vec<AclBinding> = Vec::new();
        let response = creations
            .into_iter()
            .map(|(id, binding)| {
                binding.validate()?;
                let exists = self.image.acls().bindings().values().any(|b| *b == binding)
                    || created.contains(&binding);
                if !exists {
                    created.push(binding.clone());
                    records.push(MetadataRecord::AccessControlEntry { id, binding });
                }
                Ok(())
            })
            .collect();
        ControllerResult { records, response }
    }

    /// DeleteAcls: for each filter, in order, the bindings it removed (a
    /// binding matched by an earlier filter is reported there only).
    pub fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
    ) -> ControllerResult<Vec<Vec<AclBinding>>> {
        let mut records = Vec::new();
        let mut removed: Vec<AclId> = Vec::new();
        let response = filters
            .iter()
            .map(|filter| {
                let mut matched = Vec::new();
                for (id, binding) in self.image.acls().matching(filter) {
                    if removed.contains(id) {
                        continue;
                    }
                    removed.push(*id);
                    records.push(MetadataRecord::RemoveAccessControlEntry { id: *id });
                    matched.push(binding.clone());
                }
                matched
            })
            .collect();
        ControllerResult { records, response }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{AclOperation, AclPermission, PatternType, ResourceType};
    use crate::image::MetadataImage;
    use crate::metadata_controller::ControllerSettings;

    fn controller() -> MetadataController {
        let settings = ControllerSettings {
            num_partitions: 1,
            delete_topic_enable: true,
            node_id: 0,
            default_replication_factor: 1,
            unclean_leader_election_enable: false,
            broker_session_timeout_ms: 9000,
        };
        MetadataController::new(settings, MetadataImage::new(0))
    }

    fn commit<T>(controller: &mut MetadataController, proposal: ControllerResult<T>) -> T {
        controller.apply_committed(&proposal.records);
        proposal.response
    }

    fn binding(name: &str, operation: AclOperation) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.to_string(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn created_bindings_are_recorded_once_and_invalid_ones_refused() {
        let mut controller = controller();
        let mut invalid = binding("t", AclOperation::Read);
        invalid.pattern_type = PatternType::Match;
        let proposal = controller.create_acls(vec![
            ([1; 16], binding("t", AclOperation::Read)),
            ([2; 16], binding("t", AclOperation::Read)),
            ([3; 16], invalid),
        ]);
        assert_eq!(proposal.records.len(), 1);
        let outcomes = commit(&mut controller, proposal);
        assert!(outcomes[0].is_ok() && outcomes[1].is_ok());
        assert!(matches!(outcomes[2], Err(ControllerError::InvalidAcl(_))));
        let again = controller.create_acls(vec![([4; 16], binding("t", AclOperation::Read))]);
        assert!(again.records.is_empty());
        assert_eq!(controller.image.acls().bindings().len(), 1);
    }

    #[test]
    fn deletion_filters_remove_and_report_each_binding_once() {
        let mut controller = controller();
        let proposal = controller.create_acls(vec![
            ([1; 16], binding("t", AclOperation::Read)),
            ([2; 16], binding("t", AclOperation::Write)),
            ([3; 16], binding("u", AclOperation::Read)),
        ]);
        commit(&mut controller, proposal);
        let reads = AclBindingFilter {
            operation: AclOperation::Read,
            ..AclBindingFilter::any()
        };
        let proposal = controller.delete_acls(&[reads, AclBindingFilter::any()]);
        let removed = commit(&mut controller, proposal);
        assert_eq!(removed[0].len(), 2);
        assert_eq!(removed[1], vec![binding("t", AclOperation::Write)]);
        assert!(controller.image.acls().is_empty());
    }
}
