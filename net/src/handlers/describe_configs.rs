//! DescribeConfigs for topics (overrides and broker defaults) and for this
//! broker (its static properties).

use kafka_protocol::messages::describe_configs_request::DescribeConfigsRequest;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResponse, DescribeConfigsResult,
    DescribeConfigsSynonym,
};
use kafka_protocol::protocol::StrBytes;
use skein_controller::{
    kafka_broker_property, KafkaType, PropertyDef, ValueKind, KAFKA_TOPIC_PROPERTIES, PROPERTIES,
};

use super::create_topics::{SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC, SOURCE_STATIC_BROKER};
use super::str_bytes;
use skein_controller::AclOperation;

use crate::caller::Caller;
use crate::error_code::ErrorCode;
use crate::shard_state::ShardState;

/// Resource type of a topic.
pub const RESOURCE_TOPIC: i8 = 2;
/// Resource type of a broker.
pub const RESOURCE_BROKER: i8 = 4;

/// Resource type of a broker's loggers.
const RESOURCE_BROKER_LOGGER: i8 = 8;

/// Why the caller may not do `operation` (DESCRIBE_CONFIGS or
/// ALTER_CONFIGS) on the configs of a resource, as Kafka checks it: a
/// topic's on the topic, a broker's on the cluster.
pub fn refusal(
    caller: &Caller<'_>,
    operation: AclOperation,
    resource_type: i8,
    resource_name: &str,
) -> Option<ErrorCode> {
    match resource_type {
        RESOURCE_TOPIC if !caller.may_on_topic(operation, resource_name) => {
            Some(ErrorCode::TopicAuthorizationFailed)
        }
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER if !caller.may_on_cluster(operation) => {
            Some(ErrorCode::ClusterAuthorizationFailed)
        }
        _ => None,
    }
}

/// Answers a DescribeConfigs request. Kafka: DESCRIBE_CONFIGS on each topic,
/// or on the cluster for a broker.
pub fn handle(
    ctx: &ShardState,
    caller: &Caller<'_>,
    mut request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let image = ctx.image();
    let resources = std::mem::take(&mut request.resources);
    let request = &request;
    let results = resources
        .into_iter()
        .map(|resource| {
            let keys = resource.configuration_keys.clone();
            let wanted = |name: &str| {
                keys.as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == name))
            };
            let base = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            if let Some(code) = refusal(
                caller,
                AclOperation::DescribeConfigs,
                resource.resource_type,
                resource.resource_name.as_str(),
            ) {
                return base.with_error_code(code.code());
            }
            match resource.resource_type {
                RESOURCE_TOPIC => match image.topic(resource.resource_name.as_str()) {
                    Some(topic) => {
                        let defaults = ctx.config.topic_defaults();
                        let configs = PROPERTIES
                            .iter()
                            .filter_map(|def| {
                                let name = def.topic_name?;
                                if !wanted(name) {
                                    return None;
                                }
                                let broker_value = defaults.get(name).cloned().unwrap_or_default();
                                let broker_source = if broker_value == def.default {
                                    SOURCE_DEFAULT
                                } else {
                                    SOURCE_STATIC_BROKER
                                };
                                let (value, source) = match topic.configs.get(name) {
                                    Some(value) => (value.clone(), SOURCE_DYNAMIC_TOPIC),
                                    None => (broker_value.clone(), broker_source),
                                };
                                let mut entry = entry(def, name, &value, source, request);
                                if request.include_synonyms {
                                    let mut synonyms = Vec::new();
                                    if source == SOURCE_DYNAMIC_TOPIC {
                                        synonyms.push(synonym(name, &value, SOURCE_DYNAMIC_TOPIC));
                                    }
                                    synonyms.push(synonym(def.name, &broker_value, broker_source));
                                    entry = entry.with_synonyms(synonyms);
                                }
                                Some(entry)
                            })
                            .chain(kafka_only_overrides(&topic.configs, &wanted, request))
                            .collect();
                        base.with_configs(configs)
                    }
                    None => base
                        .with_error_code(ErrorCode::UnknownTopicOrPartition.code())
                        .with_error_message(Some(str_bytes("unknown topic"))),
                },
                RESOURCE_BROKER => {
                    let node = ctx.config.node_id();
                    let name = resource.resource_name.as_str();
                    // Kafka's ConfigHelper: a broker describes itself only.
                    let refusal = match name.parse::<i32>() {
                        _ if name.is_empty() => None,
                        Ok(id) if id == node => None,
                        Ok(_) => Some(format!(
                            "Unexpected broker id, expected {node} or empty string, but received {name}"
                        )),
                        Err(_) => Some(format!("Broker id must be an integer, but it is: {name}")),
                    };
                    if let Some(refusal) = refusal {
                        return base
                            .with_error_code(ErrorCode::InvalidRequest.code())
                            .with_error_message(Some(str_bytes(&refusal)));
                    }
                    let ours = PROPERTIES.iter().filter(|def| wanted(def.name)).map(|def| {
                        let value = ctx.config.value_text(def.name);
                        let source = if value == def.default {
                            SOURCE_DEFAULT
                        } else {
                            SOURCE_STATIC_BROKER
                        };
                        entry(def, def.name, &value, source, request).with_read_only(true)
                    });
                    // Kafka's properties that Skein accepts without effect,
                    // as Kafka lists them: set value, else Kafka's default.
                    let kafkas = ctx
                        .config
                        .kafka_only_settings()
                        .into_iter()
                        .filter(|(kafka, _, _)| wanted(kafka.name))
                        .map(|(kafka, value, set)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(StrBytes::from_static_str(kafka.name))
                                .with_value(value.as_deref().map(str_bytes))
                                .with_config_source(if set {
                                    SOURCE_STATIC_BROKER
                                } else {
                                    SOURCE_DEFAULT
                                })
                                .with_config_type(kafka_config_type(kafka.kind))
                                .with_is_sensitive(kafka.kind == KafkaType::Password)
                                .with_read_only(true)
                        });
                    base.with_configs(ours.chain(kafkas).collect())
                }
                _ => base
                    .with_error_code(ErrorCode::InvalidRequest.code())
                    .with_error_message(Some(str_bytes("unsupported resource type"))),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn entry(
    def: &PropertyDef,
    name: &str,
    value: &str,
    source: i8,
    request: &DescribeConfigsRequest,
) -> DescribeConfigsResourceResult {
    // Kafka's PASSWORD properties (a private key, its password) are never
    // shown, only flagged, as Kafka does.
    let sensitive = kafka_broker_property(def.name).is_some_and(|k| k.kind == KafkaType::Password);
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(name))
        .with_value((!sensitive).then(|| str_bytes(value)))
        .with_is_sensitive(sensitive)
        .with_config_source(source)
        .with_config_type(config_type(def.kind))
        .with_documentation(
            request
                .include_documentation
                .then(|| StrBytes::from_static_str(def.doc)),
        )
}

/// The topic's overrides of Kafka topic configs that Skein has no broker
/// property for (`leader.replication.throttled.replicas`, …): described as
/// Kafka does, with their value as DYNAMIC_TOPIC_CONFIG. Unset ones are
/// left out (their default is Kafka's, empty or unused).
fn kafka_only_overrides<'a>(
    configs: &'a std::collections::BTreeMap<String, String>,
    wanted: &'a dyn Fn(&str) -> bool,
    request: &'a DescribeConfigsRequest,
) -> impl Iterator<Item = DescribeConfigsResourceResult> + 'a {
    configs
        .iter()
        .filter(|(name, _)| {
            wanted(name)
                && !PROPERTIES
                    .iter()
                    .any(|def| def.topic_name == Some(name.as_str()))
        })
        .map(|(name, value)| {
            let list = KAFKA_TOPIC_PROPERTIES
                .iter()
                .any(|k| k.name == name.as_str() && k.kind == KafkaType::List);
            let entry = DescribeConfigsResourceResult::default()
                .with_name(str_bytes(name))
                .with_value(Some(str_bytes(value)))
                .with_config_source(SOURCE_DYNAMIC_TOPIC)
                // Kafka's ConfigType: LIST 7, STRING 2.
                .with_config_type(if list { 7 } else { 2 });
            if request.include_synonyms {
                entry.with_synonyms(vec![synonym(name, value, SOURCE_DYNAMIC_TOPIC)])
            } else {
                entry
            }
        })
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(value)))
        .with_source(source)
}

/// Kafka's ConfigType codes: BOOLEAN 1, STRING 2, INT 3, LONG 5, DOUBLE 6,
/// LIST 7.
fn config_type(kind: ValueKind) -> i8 {
    match kind {
        ValueKind::Bool => 1,
        ValueKind::Ratio => 6,
        ValueKind::CleanupPolicy => 7,
        ValueKind::List(_) | ValueKind::Voters | ValueKind::HostPorts => 7,
        ValueKind::OneOf(_)
        | ValueKind::FlushPolicy
        | ValueKind::Path
        | ValueKind::Text
        | ValueKind::Listeners
        | ValueKind::ProtocolMap => 2,
        ValueKind::Int { max, .. } | ValueKind::IntOr { max, .. } if max <= i64::from(i32::MAX) => {
            3
        }
        ValueKind::Int { .. } | ValueKind::IntOr { .. } => 5,
    }
}

/// Kafka's ConfigType code of a Kafka type (SHORT 4, PASSWORD 8, CLASS 9).
fn kafka_config_type(kind: KafkaType) -> i8 {
    match kind {
        KafkaType::Boolean => 1,
        KafkaType::String => 2,
        KafkaType::Int => 3,
        KafkaType::Short => 4,
        KafkaType::Long => 5,
        KafkaType::Double => 6,
        KafkaType::List => 7,
        KafkaType::Password => 8,
        KafkaType::Class => 9,
    }
}
