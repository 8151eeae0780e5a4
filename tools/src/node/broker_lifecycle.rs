//! A broker's side of its registration with the active controller, as a
//! KRaft broker's `BrokerLifecycleManager`: register with a new incarnation
//! (getting a broker epoch), then heartbeat every
//! `broker.heartbeat.interval.ms` with the offset of the last metadata
//! record this node has applied, so the controller unfences it once it has
//! caught up and fences it when the heartbeats stop. The controller is
//! found by trying the voters (the quorum's leader first, when this node
//! knows it); NOT_CONTROLLER or a lost connection moves on to the next.
//! A controller of another cluster (INCONSISTENT_CLUSTER_ID) is fatal.
//!
//! A failed log directory is reported as KRaft brokers do (KIP-858): at
//! once (the next heartbeat does not wait for the interval) and in every
//! heartbeat after, in `OfflineLogDirs`, each preceded by an
//! AssignReplicasToDirs naming the replicas that directory held, so the
//! active controller — this one or the next — moves their leaderships and
//! ISR places to the other replicas.
//!
//! Lives on: the control shard, in cluster mode, on a node with the
//! `broker` role.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::broker_registration_request::Listener as RegistrationListener;
use kafka_protocol::messages::{
    ApiKey, AssignReplicasToDirsRequest, AssignReplicasToDirsResponse, BrokerHeartbeatRequest,
    BrokerHeartbeatResponse, BrokerId, BrokerRegistrationRequest, BrokerRegistrationResponse,
};
use kafka_protocol::protocol::StrBytes;
use skein_controller::{BrokerConfig, DirectoryId};
use skein_engine::LogDirs;

use crate::node::control_shard::ControlShard;
use skein_controller::BrokerEndpoint;
use skein_net::controller_client::{ControllerCallError, ControllerConnection};
use skein_net::controller_rpc::{
    ASSIGN_REPLICAS_TO_DIRS_VERSION, BROKER_HEARTBEAT_VERSION, BROKER_REGISTRATION_VERSION,
};
use skein_net::error_code::ErrorCode;

/// Pause before the next attempt when no controller answered.
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// The longest a controlled shutdown waits for the controller to move this
/// broker's leaderships before the broker stops anyway.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Heartbeat interval while shutting down.
const SHUTDOWN_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(50);
/// Kafka's security protocol id of PLAINTEXT.
const PLAINTEXT: i16 = 0;

/// Why the broker must stop.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The quorum serves another cluster.
    #[error("this node's cluster id {ours} differs from the quorum's; it refuses to join (controller {controller} answered INCONSISTENT_CLUSTER_ID)")]
    InconsistentClusterId { ours: String, controller: i32 },
}

/// `broker.heartbeat.interval.ms`.
fn heartbeat_interval(config: &BrokerConfig) -> Duration {
    Duration::from_millis(config.broker_heartbeat_interval_ms().max(1))
}

/// The registration of this broker: every client listener's name with the
/// address it advertises and its security protocol, as a KRaft broker
/// registers them.
fn registration(
    config: &BrokerConfig,
    listeners: &[BrokerEndpoint],
    cluster_id: &str,
    incarnation: uuid::Uuid,
) -> BrokerRegistrationRequest {
    let listeners = listeners
        .iter()
        .map(|listener| {
            RegistrationListener::default()
                .with_name(StrBytes::from_string(listener.name.clone()))
                .with_host(StrBytes::from_string(listener.host.clone()))
                .with_port(listener.port)
                .with_security_protocol(security_protocol_id(config, &listener.name))
        })
        .collect();
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(config.node_id()))
        .with_cluster_id(StrBytes::from_string(cluster_id.to_string()))
        .with_incarnation_id(incarnation)
        .with_listeners(listeners)
        .with_rack(
            config
                .broker_rack()
                .map(|rack| StrBytes::from_string(rack.to_string())),
        )
}

/// Kafka's `SecurityProtocol` id of listener `name` (PLAINTEXT when the
/// map does not name it).
fn security_protocol_id(config: &BrokerConfig, name: &str) -> i16 {
    match config.security_protocol(name).as_deref() {
        Some("SSL") => 1,
        Some("SASL_PLAINTEXT") => 2,
        Some("SASL_SSL") => 3,
        _ => PLAINTEXT,
    }
}

/// Keeps this broker registered and heartbeating until `shutdown` is set;
/// then runs the controlled shutdown (heartbeats asking for it until the
/// controller has moved this broker's leaderships away and says it may
/// stop, at most [`CONTROLLED_SHUTDOWN_TIMEOUT`]) and returns.
///
/// # Errors
/// [`LifecycleError`]: the node must stop.
pub async fn run(
    control: Rc<ControlShard>,
    config: Rc<BrokerConfig>,
    listeners: Vec<BrokerEndpoint>,
    cluster_id: String,
    log_dirs: Arc<LogDirs>,
    shutdown: Arc<AtomicBool>,
) -> Result<(), LifecycleError> {
    let mut shutdown_started: Option<Instant> = None;
    let incarnation = uuid::Uuid::new_v4();
    let interval = heartbeat_interval(&config);
    let broker_id = config.node_id();
    let mut next_voter = 0usize;
    let mut connection: Option<(i32, ControllerConnection)> = None;
    let mut broker_epoch: Option<i64> = None;
    let mut fenced = true;
    loop {
        if shutdown.load(Ordering::SeqCst) {
            let started = *shutdown_started.get_or_insert_with(Instant::now);
            if broker_epoch.is_none() || started.elapsed() > CONTROLLED_SHUTDOWN_TIMEOUT {
                return Ok(());
            }
        }
        let target = control.active_controller().unwrap_or_else(|| {
            let voters = control.voters();
            next_voter = next_voter.wrapping_add(1);
            voters
                .get(next_voter % voters.len().max(1))
                .map_or(broker_id, |voter| voter.node_id)
        });
        if connection.as_ref().is_none_or(|(id, _)| *id != target) {
            connection = connect(&control, target).await.map(|c| (target, c));
        }
        let Some((_, link)) = connection.as_mut() else {
            glommio::timer::sleep(RETRY_BACKOFF).await;
            continue;
        };
        let Some(epoch) = broker_epoch else {
            let request = registration(&config, &listeners, &cluster_id, incarnation);
            let response: Result<BrokerRegistrationResponse, _> = link
                .call(
                    ApiKey::BrokerRegistration,
                    BROKER_REGISTRATION_VERSION,
                    &request,
                )
                .await;
            match response {
                Ok(response) if response.error_code == 0 => {
                    tracing::info!(
                        broker_id,
                        broker_epoch = response.broker_epoch,
                        controller = target,
                        "broker registered"
                    );
                    broker_epoch = Some(response.broker_epoch);
                    continue;
                }
                Ok(response) if response.error_code == ErrorCode::InconsistentClusterId.code() => {
                    return Err(LifecycleError::InconsistentClusterId {
                        ours: cluster_id,
                        controller: target,
                    });
                }
                Ok(response) => {
                    tracing::debug!(
                        code = response.error_code,
                        controller = target,
                        "broker registration refused; retrying"
                    );
                    drop_if_not_controller(&mut connection, response.error_code);
                }
                Err(error) => lost(&mut connection, target, &error),
            }
            glommio::timer::sleep(RETRY_BACKOFF).await;
            continue;
        };
        let offline = offline_dirs(&log_dirs);
        if !offline.is_empty() {
            let assignment = offline_assignment(&control, &log_dirs, broker_id, epoch);
            let answer: Result<AssignReplicasToDirsResponse, _> = link
                .call(
                    ApiKey::AssignReplicasToDirs,
                    ASSIGN_REPLICAS_TO_DIRS_VERSION,
                    &assignment,
                )
                .await;
            match answer {
                Ok(answer) if answer.error_code == 0 => {}
                Ok(answer) => {
                    tracing::debug!(
                        code = answer.error_code,
                        controller = target,
                        "AssignReplicasToDirs refused; retrying"
                    );
                    drop_if_not_controller(&mut connection, answer.error_code);
                    glommio::timer::sleep(RETRY_BACKOFF).await;
                    continue;
                }
                Err(error) => {
                    lost(&mut connection, target, &error);
                    glommio::timer::sleep(RETRY_BACKOFF).await;
                    continue;
                }
            }
        }
        let Some((_, link)) = connection.as_mut() else {
            continue;
        };
        let request = BrokerHeartbeatRequest::default()
            .with_broker_id(BrokerId(broker_id))
            .with_broker_epoch(epoch)
            .with_current_metadata_offset(applied_offset(&control))
            .with_want_shut_down(shutdown_started.is_some())
            .with_offline_log_dirs(
                offline
                    .iter()
                    .map(|directory| uuid::Uuid::from_bytes(*directory))
                    .collect(),
            );
        let response: Result<BrokerHeartbeatResponse, _> = link
            .call(ApiKey::BrokerHeartbeat, BROKER_HEARTBEAT_VERSION, &request)
            .await;
        match response {
            Ok(response) if response.error_code == 0 => {
                if response.is_caught_up {
                    control.mark_caught_up();
                }
                if response.is_fenced != fenced {
                    fenced = response.is_fenced;
                    tracing::info!(broker_id, fenced, "broker fencing changed");
                }
                if shutdown_started.is_some() {
                    if response.should_shut_down {
                        tracing::info!(broker_id, "controlled shutdown done: leaderships moved");
                        return Ok(());
                    }
                    glommio::timer::sleep(SHUTDOWN_HEARTBEAT_INTERVAL).await;
                } else {
                    sleep_unless_shutdown(interval, &shutdown, &log_dirs, offline.len()).await;
                }
            }
            Ok(response) => {
                let code = response.error_code;
                if code == ErrorCode::StaleBrokerEpoch.code()
                    || code == ErrorCode::BrokerIdNotRegistered.code()
                {
                    tracing::warn!(
                        broker_id,
                        code,
                        "broker registration lost; registering again"
                    );
                    broker_epoch = None;
                }
                drop_if_not_controller(&mut connection, code);
                glommio::timer::sleep(RETRY_BACKOFF).await;
            }
            Err(error) => {
                lost(&mut connection, target, &error);
                glommio::timer::sleep(RETRY_BACKOFF).await;
            }
        }
    }
}

/// Sleeps `duration`, waking early when `shutdown` is set or a log
/// directory fails (more than the `offline` already reported).
async fn sleep_unless_shutdown(
    duration: Duration,
    shutdown: &AtomicBool,
    log_dirs: &LogDirs,
    offline: usize,
) {
    let started = Instant::now();
    while started.elapsed() < duration
        && !shutdown.load(Ordering::SeqCst)
        && offline_dirs(log_dirs).len() == offline
    {
        glommio::timer::sleep(duration.min(Duration::from_millis(50))).await;
    }
}

/// The ids of this broker's log directories that have failed.
fn offline_dirs(log_dirs: &LogDirs) -> Vec<DirectoryId> {
    log_dirs
        .dirs()
        .iter()
        .filter(|dir| dir.is_offline())
        .map(|dir| dir.directory_uuid())
        .collect()
}

/// The AssignReplicasToDirs of this broker's replicas (as the image
/// places them) that live in a failed log directory, grouped by directory
/// and topic.
fn offline_assignment(
    control: &ControlShard,
    log_dirs: &LogDirs,
    broker_id: i32,
    broker_epoch: i64,
) -> AssignReplicasToDirsRequest {
    use kafka_protocol::messages::assign_replicas_to_dirs_request::{
        DirectoryData, PartitionData, TopicData,
    };
    let image = control.image();
    let mut directories: Vec<DirectoryData> = Vec::new();
    for (index, dir) in log_dirs.dirs().iter().enumerate() {
        if !dir.is_offline() {
            continue;
        }
        let mut topics = Vec::new();
        for topic in image.topics() {
            let partitions: Vec<PartitionData> = topic
                .partition_states()
                .filter(|(_, state)| state.replicas.contains(&broker_id))
                .filter(|(partition, _)| {
                    log_dirs.locate(&format!("{}-{partition}", topic.name)) == Some(index)
                })
                .map(|(partition, _)| PartitionData::default().with_partition_index(partition))
                .collect();
            if !partitions.is_empty() {
                topics.push(
                    TopicData::default()
                        .with_topic_id(uuid::Uuid::from_bytes(topic.topic_id))
                        .with_partitions(partitions),
                );
            }
        }
        directories.push(
            DirectoryData::default()
                .with_id(uuid::Uuid::from_bytes(dir.directory_uuid()))
                .with_topics(topics),
        );
    }
    AssignReplicasToDirsRequest::default()
        .with_broker_id(BrokerId(broker_id))
        .with_broker_epoch(broker_epoch)
        .with_directories(directories)
}

/// The offset of the last metadata record this node has applied.
fn applied_offset(control: &ControlShard) -> i64 {
    i64::try_from(control.image().version).unwrap_or(i64::MAX) - 1
}

async fn connect(control: &ControlShard, target: i32) -> Option<ControllerConnection> {
    let voter = control.voters().iter().find(|v| v.node_id == target)?;
    let address = format!("{}:{}", voter.host, voter.port);
    match ControllerConnection::connect_to(&address, &control.peer_security().controller).await {
        Ok(connection) => Some(connection),
        Err(error) => {
            tracing::debug!(controller = target, %address, %error, "controller unreachable");
            None
        }
    }
}

fn drop_if_not_controller(connection: &mut Option<(i32, ControllerConnection)>, code: i16) {
    if code == ErrorCode::NotController.code() {
        *connection = None;
    }
}

fn lost(
    connection: &mut Option<(i32, ControllerConnection)>,
    target: i32,
    error: &ControllerCallError,
) {
    tracing::debug!(controller = target, %error, "controller call failed");
    *connection = None;
}
