//! Topic and broker configs: DescribeConfigs and IncrementalAlterConfigs.
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;

use super::response_error::check_error_code;
use super::{ClientError, Connection};

/// What a config belongs to (Kafka's ConfigResource types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigResource {
    /// A topic's configs (resource type 2).
    Topic,
    /// A broker's configs (resource type 4); the name is the broker id.
    Broker,
}

impl ConfigResource {
    fn wire(self) -> i8 {
        match self {
            Self::Topic => 2,
            Self::Broker => 4,
        }
    }
}

/// One config entry as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigEntry {
    /// Property name, e.g. `retention.ms`.
    pub name: String,
    /// Current value; `None` for sensitive or unset values.
    pub value: Option<String>,
    /// Where the value comes from, in Kafka's words (`DEFAULT_CONFIG`, `DYNAMIC_TOPIC_CONFIG`, …).
    pub source: &'static str,
    /// Whether the value cannot be altered.
    pub read_only: bool,
}

/// How one config is changed by [`Connection::alter_configs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set `name` to a value.
    Set(String, String),
    /// Remove an override of `name`, reverting it to the default.
    Delete(String),
}

fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

impl Connection {
    /// Describes every config of one resource, sorted by name.
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] e.g.
    /// UNKNOWN_TOPIC_OR_PARTITION.
    pub fn describe_configs(
        &mut self,
        resource: ConfigResource,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(resource.wire())
                .with_resource_name(StrBytes::from_string(name.to_owned()))
                .with_configuration_keys(None),
        ]);
        let response = self.call(&request)?;
        let mut entries = Vec::new();
        for result in &response.results {
            check_error_code(
                ApiKey::DescribeConfigs,
                result.error_code,
                name,
                result.error_message.as_ref(),
            )?;
            entries.extend(result.configs.iter().map(|config| ConfigEntry {
                name: config.name.as_str().to_owned(),
                value: config.value.as_ref().map(|value| value.as_str().to_owned()),
                source: source_name(config.config_source),
                read_only: config.read_only,
            }));
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Applies `changes` to one resource with IncrementalAlterConfigs
    /// (other configs are left as they are).
    ///
    /// # Errors
    /// Any [`ClientError`] of the call; [`ClientError::Kafka`] e.g.
    /// INVALID_CONFIG with the broker's reason.
    pub fn alter_configs(
        &mut self,
        resource: ConfigResource,
        name: &str,
        changes: &[ConfigChange],
    ) -> Result<(), ClientError> {
        let configs = changes
            .iter()
            .map(|change| match change {
                ConfigChange::Set(key, value) => AlterableConfig::default()
                    .with_name(StrBytes::from_string(key.clone()))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(value.clone()))),
                ConfigChange::Delete(key) => AlterableConfig::default()
                    .with_name(StrBytes::from_string(key.clone()))
                    .with_config_operation(1)
                    .with_value(None),
            })
            .collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource.wire())
                .with_resource_name(StrBytes::from_string(name.to_owned()))
                .with_configs(configs),
        ]);
        let response = self.call(&request)?;
        for result in &response.responses {
            check_error_code(
                ApiKey::IncrementalAlterConfigs,
                result.error_code,
                name,
                result.error_message.as_ref(),
            )?;
        }
        Ok(())
    }
}
