//! The cluster as DescribeCluster reports it: id, controller, brokers.
use kafka_protocol::messages::{ApiKey, DescribeClusterRequest};

use super::response_error::check_error_code;
use super::{ClientError, Connection};

/// One broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterBroker {
    /// Broker (node) id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, if configured.
    pub rack: Option<String>,
}

/// The answer of [`Connection::describe_cluster`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: String,
    /// The controller's broker id, -1 if unknown.
    pub controller_id: i32,
    /// Brokers sorted by id.
    pub brokers: Vec<ClusterBroker>,
}

impl Connection {
    /// Describes the cluster.
    ///
    /// # Errors
    /// [`ClientError::UnsupportedApi`] on brokers older than Kafka 2.8
    /// (callers fall back to Metadata); any other [`ClientError`].
    pub fn describe_cluster(&mut self) -> Result<ClusterDescription, ClientError> {
        let response = self.call(&DescribeClusterRequest::default())?;
        check_error_code(
            ApiKey::DescribeCluster,
            response.error_code,
            "",
            response.error_message.as_ref(),
        )?;
        let mut brokers: Vec<ClusterBroker> = response
            .brokers
            .iter()
            .map(|broker| ClusterBroker {
                id: broker.broker_id.0,
                host: broker.host.as_str().to_owned(),
                port: broker.port,
                rack: broker.rack.as_ref().map(|rack| rack.as_str().to_owned()),
            })
            .collect();
        brokers.sort_by_key(|broker| broker.id);
        Ok(ClusterDescription {
            cluster_id: response.cluster_id.as_str().to_owned(),
            controller_id: response.controller_id.0,
            brokers,
        })
    }
}
