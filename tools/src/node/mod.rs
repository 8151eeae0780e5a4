//! A whole broker node: the data shards (listeners, connections, partition
//! logs) and the control shard, started on their cores, stopped gracefully.
//!
//! Start: every shard joins the mesh; the control shard replays the metadata
//! log and publishes the image; each data shard opens (recovers) the logs it
//! owns, then binds the listener. Stop (the `shutdown` flag): listeners
//! stop, connections finish their in-flight requests, every data shard waits
//! for the others to drain (they may still need it for cross-shard
//! requests), then flushes and closes its logs, writing clean-shutdown
//! markers.
//!
//! This is the process wiring that composes the crates (the engine's
//! shards, the controller's quorum, the protocol server of `skein_net`):
//! the control shard's driver and its quorum, the broker's registration,
//! the controller listener and, on a broker-only node, the reader of the
//! committed metadata log live here beside it.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod broker_lifecycle;
pub(crate) mod control_shard;
mod controller_server;
mod coordinator_timer;
mod group_driver;
mod metadata_fetcher;
mod metadata_upgrade;
mod parked_requests;
mod quorum_driver;
mod transaction_driver;

use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skein_controller::BrokerConfig;
use skein_engine::{mesh_ports, run_shards, CoreSet, LogDirs, MeshPorts, ShardId, ShardPlan};

use crate::node::control_shard::ControlShard;
use crate::node::group_driver::{offsets_topic, GroupDriver};
use crate::node::transaction_driver::{transaction_state_topic, TransactionDriver};
use skein_net::connection_quota::{parse_per_ip_overrides, ConnectionLimits, ConnectionQuotas};
use skein_net::fetch_reads;
use skein_net::listener::{self, ClientListener, ListenerEndpoint};
use skein_net::metrics::MetricsRegistry;
use skein_net::shard_message::{ShardReply, ShardRequest};
use skein_net::shard_state::{AdvertisedAddress, ShardState};

/// Requests a mesh channel holds before senders wait.
const MESH_CHANNEL_CAPACITY: usize = 1024;
/// How long start-up waits for a just-killed predecessor to let go of the
/// data-dir lock.
const PREDECESSOR_EXIT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the group coordinator looks for a new image.
const GROUP_IMAGE_POLL_MS: u64 = 10;
/// How often start-up looks whether the controller found this broker caught
/// up with the metadata log.
const CATCH_UP_POLL_MS: u64 = 10;
/// How often the control shard republishes the active controller's id.
const CONTROLLER_WATCH_MS: u64 = 20;
/// How often a shard looks at the shutdown flag.
const SHUTDOWN_POLL: Duration = Duration::from_millis(50);
/// The longest a shard waits for in-flight requests at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How a node is started.
pub struct NodeOptions {
    /// The broker configuration.
    pub config: BrokerConfig,
    /// Cores to run on.
    pub cores: CoreSet,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Address advertised in Metadata.
    pub advertised: AdvertisedAddress,
    /// Every client listener (`listen` and `advertised` are the one the
    /// broker registers), each opened on every data shard.
    pub client_listeners: Vec<ListenerEndpoint>,
    /// Set to stop the node gracefully.
    pub shutdown: Arc<AtomicBool>,
    /// Where to serve `/metrics` and `/health` over HTTP; `None` for nowhere.
    pub admin_listen: Option<SocketAddr>,
}

/// Why a node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A shard could not start or crashed.
    #[error(transparent)]
    Runtime(#[from] skein_engine::RuntimeError),
    /// Start-up failed.
    #[error("{0}")]
    Startup(String),
}

type Port = MeshPorts<ShardRequest, ShardReply>;

/// Runs a node until `options.shutdown` is set and it has stopped.
///
/// # Errors
/// If a shard cannot start (cores, io_uring, the listen address, the data
/// directory).
pub fn run_node(options: NodeOptions) -> Result<(), NodeError> {
    let NodeOptions {
        config,
        cores,
        listen,
        advertised,
        client_listeners,
        shutdown,
        admin_listen,
    } = options;
    // The partition count does not matter here: only the properties are
    // checked against each other.
    config
        .group_coordinator_config(1)
        .validate()
        .map_err(|error| NodeError::Startup(format!("invalid group settings: {error}")))?;
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir).map_err(|error| {
        NodeError::Startup(format!(
            "cannot create data dir {}: {error}",
            data_dir.display()
        ))
    })?;
    // Held until the node stops: a second broker on one of these log dirs
    // refuses to start instead of sharing (and corrupting) its logs.
    let mut _log_dir_locks = Vec::new();
    for dir in config.log_dirs() {
        std::fs::create_dir_all(&dir).map_err(|error| {
            NodeError::Startup(format!("cannot create log dir {}: {error}", dir.display()))
        })?;
        _log_dir_locks.push(lock_data_dir(&dir)?);
    }
    let log_dirs = Arc::new(
        LogDirs::open(&config.log_dirs(), config.node_id())
            .map_err(|error| NodeError::Startup(format!("log.dirs: {error}")))?,
    );
    let roles = config.roles();
    let node_id = config.node_id();
    let client_listeners = if roles.broker {
        prepare_client_listeners(&config, client_listeners)?
    } else {
        Vec::new()
    };
    let listen = client_listeners
        .iter()
        .find(|l| l.endpoint.name == config.client_listener().0.name)
        .map_or(listen, |l| l.endpoint.listen);
    let peer_security = Arc::new(
        skein_net::client_security::PeerSecurity::load(&config).map_err(NodeError::Startup)?,
    );
    let controller_tls = controller_listener_tls(&config)?;
    let controller_sasl = controller_listener_sasl(&config)?;
    let tls_reloader = skein_net::tls::spawn_reloader(
        client_listeners
            .iter()
            .filter_map(|l| l.tls.clone())
            .chain(controller_tls.clone())
            .collect(),
        Arc::clone(&shutdown),
    )
    .map_err(|error| NodeError::Startup(format!("cannot start the TLS reloader: {error}")))?;
    let cluster_id = std::sync::OnceLock::new();
    let local_cluster_id = if config.is_single_node() {
        let id = load_or_create_cluster_id(&data_dir).map_err(|error| {
            NodeError::Startup(format!("cannot read or write the cluster id: {error}"))
        })?;
        if let Some(configured) = config.cluster_id().filter(|c| *c != id) {
            return Err(NodeError::Startup(format!(
                "cluster.id is {configured} but this node's data dir belongs to cluster {id}: it refuses to start"
            )));
        }
        log_dirs
            .claim(&id, node_id)
            .map_err(|error| NodeError::Startup(format!("log.dirs: {error}")))?;
        // A single node serves its stored id from the start.
        drop(cluster_id.set(id.clone()));
        Some(id)
    } else {
        let stored = read_cluster_id(&data_dir);
        match (config.cluster_id(), stored) {
            (Some(configured), Some(stored)) if configured != stored => {
                return Err(NodeError::Startup(format!(
                    "cluster.id is {configured} but this node's data dir belongs to cluster {stored}: it refuses to start"
                )));
            }
            (Some(configured), _) => Some(configured.to_string()),
            (None, stored) => stored,
        }
    };
    let plan = ShardPlan::for_cores(&cores);
    let data_spin_before_park = config.shard_spin_before_park();
    let per_ip_overrides = parse_per_ip_overrides(config.max_connections_per_ip_overrides())
        .map_err(|reason| {
            NodeError::Startup(format!("max.connections.per.ip.overrides: {reason}"))
        })?;
    let connection_quotas = ConnectionQuotas::new(ConnectionLimits {
        max_connections: config.max_connections(),
        max_per_ip: config.max_connections_per_ip(),
        per_ip_overrides,
    });
    let metrics = Arc::new(MetricsRegistry::default());
    let admin_thread = admin_listen.and_then(|address| {
        // Metrics are not worth refusing to serve Kafka clients for.
        match skein_net::admin_http::spawn(
            address,
            Arc::clone(&metrics),
            plan.data_shards(),
            Arc::clone(&shutdown),
        ) {
            Ok(thread) => Some(thread),
            Err(error) => {
                tracing::error!(%error, admin_listen = %address, "cannot serve /metrics and /health");
                None
            }
        }
    });
    let open_files_limit = skein_engine::raise_open_files_limit();
    let segment_files_per_shard = skein_engine::shard_segment_files_max(
        open_files_limit,
        config.log_open_files_max(),
        plan.data_shards(),
    );
    tracing::info!(
        open_files_limit,
        segment_files_per_shard,
        "segment files open at most per data shard"
    );
    let ports: Vec<Option<Port>> = mesh_ports(plan.shard_count(), MESH_CHANNEL_CAPACITY)
        .into_iter()
        .map(Some)
        .collect();
    let shared = Arc::new(Shared {
        ports: Mutex::new(ports),
        config,
        plan: plan.clone(),
        listen,
        advertised,
        cluster_id,
        local_cluster_id,
        controller_id: Arc::new(std::sync::atomic::AtomicI32::new(node_id)),
        shutdown,
        fatal: Mutex::new(None),
        drained: AtomicUsize::new(0),
        cores,
        metrics,
        orphans_removed: AtomicBool::new(false),
        connection_quotas,
        client_listeners,
        log_dirs: Arc::clone(&log_dirs),
        segment_files_per_shard,
        peer_security,
        controller_tls,
        controller_sasl,
    });
    let prober = spawn_log_dir_prober(
        Arc::clone(&log_dirs),
        Duration::from_millis(shared.config.log_dir_probe_interval_ms()),
        Arc::clone(&shared.shutdown),
    )
    .map_err(|error| NodeError::Startup(format!("cannot start the log dir prober: {error}")))?;
    let for_shards = Arc::clone(&shared);
    run_shards(&plan, data_spin_before_park, move |shard| {
        let shared = Arc::clone(&for_shards);
        async move {
            let Some(port) = shared.take_port(shard) else {
                shared.fail(format!("no mesh port for shard {shard:?}"));
                return;
            };
            if shard == shared.plan.control_shard() {
                control_main(shared, port).await;
            } else {
                data_main(shared, shard, port).await;
            }
        }
    })?;
    if let Some(thread) = admin_thread {
        if thread.join().is_err() {
            tracing::error!("the admin HTTP thread panicked");
        }
    }
    if prober.join().is_err() {
        tracing::error!("the log dir prober thread panicked");
    }
    if let Some(thread) = tls_reloader {
        if thread.join().is_err() {
            tracing::error!("the TLS reload thread panicked");
        }
    }
    match shared.fatal.lock().ok().and_then(|mut fatal| fatal.take()) {
        Some(reason) => Err(NodeError::Startup(reason)),
        None => Ok(()),
    }
}

/// What every shard thread starts from.
struct Shared {
    ports: Mutex<Vec<Option<Port>>>,
    config: BrokerConfig,
    plan: ShardPlan,
    listen: SocketAddr,
    advertised: AdvertisedAddress,
    /// The cluster id data shards serve: set before they start (a single
    /// node), or once the quorum's image records it (a cluster).
    cluster_id: std::sync::OnceLock<String>,
    /// The id this node brings: stored in its data dir or configured.
    local_cluster_id: Option<String>,
    /// The active controller's `node.id` (-1: unknown): written by the
    /// control shard, read by data shards for Metadata.
    controller_id: Arc<std::sync::atomic::AtomicI32>,
    shutdown: Arc<AtomicBool>,
    fatal: Mutex<Option<String>>,
    drained: AtomicUsize,
    cores: CoreSet,
    metrics: Arc<MetricsRegistry>,
    /// Set once data shard 0 removed the directories of deleted topics.
    orphans_removed: AtomicBool,
    /// The broker's connection counts and limits, shared by every listener.
    connection_quotas: Arc<ConnectionQuotas>,
    /// The client listeners every data shard opens.
    client_listeners: Vec<Arc<ClientListener>>,
    /// The log directories (`log.dirs`) every data shard keeps partitions in.
    log_dirs: Arc<LogDirs>,
    /// Segment files each data shard keeps open at most
    /// (`log.open.files.max` or the open-files limit, split over the shards).
    segment_files_per_shard: usize,
    /// How this node connects to other brokers and to the controllers.
    peer_security: Arc<skein_net::client_security::PeerSecurity>,
    /// The controller listener's TLS, when it is SSL or SASL_SSL (a voter
    /// only).
    controller_tls: Option<Arc<skein_net::tls::ListenerTls>>,
    /// The controller listener's SASL, when it is SASL_PLAINTEXT or
    /// SASL_SSL (a voter only).
    controller_sasl: Option<Arc<skein_controller::ListenerSasl>>,
}

impl Shared {
    /// The listeners this broker registers with its controller: every
    /// client listener with the address it advertises, the one brokers use
    /// (`inter.broker.listener.name`, the first advertised) first.
    fn registered_listeners(&self) -> Vec<skein_controller::BrokerEndpoint> {
        let mut listeners: Vec<skein_controller::BrokerEndpoint> = self
            .client_listeners
            .iter()
            .map(|listener| skein_controller::BrokerEndpoint {
                name: listener.endpoint.name.clone(),
                host: listener.endpoint.advertised.host.clone(),
                port: listener.endpoint.advertised.port,
            })
            .collect();
        let inter_broker = self.config.client_listener().0.name;
        if let Some(index) = listeners.iter().position(|l| l.name == inter_broker) {
            listeners.swap(0, index);
        }
        listeners
    }

    fn take_port(&self, shard: ShardId) -> Option<Port> {
        self.ports.lock().ok()?.get_mut(shard.0)?.take()
    }

    /// Records a fatal start-up error and stops the node.
    fn fail(&self, reason: String) {
        tracing::error!(%reason, "broker cannot run");
        if let Ok(mut fatal) = self.fatal.lock() {
            fatal.get_or_insert(reason);
        }
        self.shutdown.store(true, Ordering::SeqCst);
    }

    async fn wait_for_shutdown(&self) {
        while !self.shutdown.load(Ordering::SeqCst) {
            glommio::timer::sleep(SHUTDOWN_POLL).await;
        }
    }
}

async fn control_main(shared: Arc<Shared>, port: Port) {
    let (mesh, inbox) = port.connect().await;
    let config = Rc::new(shared.config.clone());
    let group_config = Rc::clone(&config);
    let group_mesh = mesh.clone();
    let control = match ControlShard::open(
        config,
        mesh,
        shared.plan.data_shards(),
        Arc::clone(&shared.peer_security),
    ) {
        Ok(control) => Rc::new(control),
        Err(error) => {
            shared.fail(format!(
                "cannot open the metadata log: {}",
                crate::node::quorum_driver::error_chain(&error)
            ));
            return;
        }
    };
    shared.metrics.register_mesh(group_mesh.stats());
    let ticking = glommio::spawn_local(Rc::clone(&control).run_quorum_ticks());
    let offsets_partitions = GroupDriver::partition_count(&group_config, &control.image());
    let groups = Rc::new(GroupDriver::new(
        &group_config,
        offsets_partitions,
        group_mesh.clone(),
        shared.plan.data_shards(),
    ));
    let transactions = Rc::new(TransactionDriver::new(
        &group_config,
        TransactionDriver::partition_count(&group_config, &control.image()),
        offsets_partitions,
        group_mesh.clone(),
        shared.plan.data_shards(),
        Arc::clone(&shared.peer_security),
    ));
    let server = Rc::clone(&control);
    let group_server = Rc::clone(&groups);
    let transaction_server = Rc::clone(&transactions);
    glommio::spawn_local(inbox.serve(move |request| {
        let control = Rc::clone(&server);
        let groups = Rc::clone(&group_server);
        let transactions = Rc::clone(&transaction_server);
        async move {
            match request {
                ShardRequest::Control(request) => {
                    ShardReply::Control(control.handle(request).await)
                }
                ShardRequest::Group(request) => ShardReply::Group(groups.handle(request).await),
                ShardRequest::Transaction(request) => {
                    ShardReply::Transaction(transactions.handle(request).await)
                }
                ShardRequest::Partition { .. }
                | ShardRequest::ApplyImage(_)
                | ShardRequest::Reads(_)
                | ShardRequest::Waits(_) => ShardReply::Unavailable,
            }
        }
    }))
    .detach();
    let offsets_segment_bytes = shared.config.offsets_topic_segment_bytes();
    let registration_config = Rc::clone(&group_config);
    let mut cluster_tasks = Vec::new();
    let lifecycle_task = std::cell::RefCell::new(None);
    if control.is_cluster() {
        match start_cluster(&shared, &control, offsets_partitions, offsets_segment_bytes) {
            Ok(tasks) => cluster_tasks = tasks,
            Err(reason) => {
                shared.fail(reason);
                drop(ticking.cancel());
                return;
            }
        }
    }
    // __consumer_offsets exists in the first image data shards serve.
    // Start-up races the shutdown flag: a data shard that stops before the
    // first image never answers, and the control shard must still stop.
    let startup = async {
        if control.is_cluster() {
            if !join_cluster(&shared, &control, &registration_config, &lifecycle_task).await {
                return;
            }
            // A broker serves nothing it replayed from its own disk until the
            // controller says it caught up (a controller-only node has no
            // data shards to publish to).
            while shared.config.roles().broker && !control.is_caught_up() {
                glommio::timer::sleep(Duration::from_millis(CATCH_UP_POLL_MS)).await;
            }
            control.mark_caught_up();
            control.publish().await;
        } else {
            if let Err(error) = control
                .register_local_broker(&registration_config, shared.registered_listeners())
                .await
            {
                tracing::error!(%error, "this broker could not register with its controller");
            }
            // __consumer_offsets first: data shards serve from the first
            // image published, and groups are the older, busier path.
            if !create_offsets_topic(&control, offsets_partitions, offsets_segment_bytes).await
                && !update_offsets_topic_configs(&control, offsets_segment_bytes).await
            {
                control.publish().await;
            }
            create_transaction_state_topic(&control, &registration_config).await;
        }
        start_group_coordinator(&control, &groups);
        start_transaction_coordinator(&control, &transactions);
    };
    let stopping = shared.wait_for_shutdown();
    futures::pin_mut!(startup, stopping);
    futures::future::select(startup, stopping).await;
    let refreshing = glommio::spawn_local(refresh_groups(
        Rc::clone(&groups),
        Arc::clone(&shared.metrics),
    ));
    shared.wait_for_shutdown().await;
    let lifecycle = lifecycle_task.borrow_mut().take();
    if let Some(lifecycle) = lifecycle {
        // The controlled shutdown: leaderships move before the broker stops.
        lifecycle.await;
    }
    drop(refreshing.cancel());
    drop(ticking.cancel());
    for task in cluster_tasks {
        drop(task.cancel());
    }
    groups.shutdown();
    transactions.shutdown();
    // Stay up until the data shards have drained: they may still create
    // topics for their last requests.
    while shared.drained.load(Ordering::SeqCst) < shared.plan.data_shards() {
        glommio::timer::sleep(SHUTDOWN_POLL).await;
    }
}

/// Starts this node's part in a cluster: on a voter, the raft links to the
/// other voters and the controller listener; on a broker-only node, the
/// reader of the committed metadata log; on both, the publisher of each new
/// image and the active controller's duties (which run only while this
/// node is the active controller).
///
/// # Errors
/// When the controller listener cannot be opened.
fn start_cluster(
    shared: &Shared,
    control: &Rc<ControlShard>,
    offsets_partitions: u32,
    offsets_segment_bytes: u64,
) -> Result<Vec<glommio::Task<()>>, String> {
    let config = &shared.config;
    let mut tasks = Vec::new();
    if !control.is_voter() {
        // A broker-only node: it reads the committed log from the voters.
        tasks.push(glommio::spawn_local(crate::node::metadata_fetcher::run(
            Rc::clone(control),
            config.node_id(),
            shared.local_cluster_id.clone(),
        )));
    } else {
        control.connect_peers(config.node_id(), shared.local_cluster_id.clone());
    }
    if let Some(listener) = config.controller_listener().filter(|_| control.is_voter()) {
        let host = if listener.host.is_empty() {
            "0.0.0.0"
        } else {
            listener.host.as_str()
        };
        let address = skein_net::controller_client::resolve(&format!("{host}:{}", listener.port))
            .map_err(|error| format!("controller listener {listener}: {error}"))?;
        let socket = glommio::net::TcpListener::bind(address).map_err(|error| {
            format!("cannot open the controller listener on {address}: {error}")
        })?;
        tracing::info!(%address, "controller listener open");
        tasks.push(glommio::spawn_local(crate::node::controller_server::serve(
            socket,
            Rc::clone(control),
            crate::node::controller_server::ListenerSecurity {
                tls: shared.controller_tls.clone(),
                sasl: shared.controller_sasl.clone(),
                failed_authentication_delay: Duration::from_millis(
                    config.connection_failed_authentication_delay_ms(),
                ),
            },
        )));
    }
    tasks.push(glommio::spawn_local(Rc::clone(control).run_publisher()));
    let watched = Rc::clone(control);
    let controller_id = Arc::clone(&shared.controller_id);
    tasks.push(glommio::spawn_local(async move {
        loop {
            let active = watched.active_controller().unwrap_or(-1);
            controller_id.store(active, Ordering::Relaxed);
            glommio::timer::sleep(Duration::from_millis(CONTROLLER_WATCH_MS)).await;
        }
    }));
    let mut offsets = offsets_topic(offsets_partitions, offsets_segment_bytes);
    offsets.replication_factor = config.offsets_topic_replication_factor();
    let rebalance = config.auto_leader_rebalance_enable().then(|| {
        crate::node::control_shard::LeaderRebalance {
            interval: Duration::from_secs(config.leader_imbalance_check_interval_seconds()),
            percentage: config.leader_imbalance_per_broker_percentage(),
        }
    });
    tasks.push(glommio::spawn_local(
        Rc::clone(control).run_controller_duties(
            shared.local_cluster_id.clone(),
            vec![offsets, transaction_state_topic(config)],
            rebalance,
        ),
    ));
    Ok(tasks)
}

/// Waits until the quorum's image records the cluster id, checks it
/// against this node's own (a node of another cluster stops, naming both),
/// stores it, lets the data shards start, and (a broker) starts the
/// registration with the active controller. Returns false when the node
/// must stop.
async fn join_cluster(
    shared: &Arc<Shared>,
    control: &Rc<ControlShard>,
    config: &Rc<BrokerConfig>,
    lifecycle_task: &std::cell::RefCell<Option<glommio::Task<()>>>,
) -> bool {
    let quorum_id = loop {
        if let Some(id) = control.image().cluster_id.clone() {
            break id;
        }
        if let Some(reason) = control.foreign_cluster() {
            shared.fail(reason);
            return false;
        }
        glommio::timer::sleep(Duration::from_millis(10)).await;
    };
    if let Some(own) = shared
        .local_cluster_id
        .as_deref()
        .filter(|own| *own != quorum_id)
    {
        shared.fail(format!(
            "this node's cluster id {own} differs from the quorum's cluster id {quorum_id}: it refuses to join"
        ));
        return false;
    }
    if read_cluster_id(&shared.config.data_dir()).as_deref() != Some(quorum_id.as_str()) {
        if let Err(error) = write_cluster_id(&shared.config.data_dir(), &quorum_id) {
            shared.fail(format!("cannot store the cluster id: {error}"));
            return false;
        }
    }
    if let Err(error) = shared.log_dirs.claim(&quorum_id, shared.config.node_id()) {
        shared.fail(format!("log.dirs: {error}"));
        return false;
    }
    tracing::info!(cluster_id = %quorum_id, "joined the cluster");
    drop(shared.cluster_id.set(quorum_id.clone()));
    if shared.config.roles().broker {
        let lifecycle = crate::node::broker_lifecycle::run(
            Rc::clone(control),
            Rc::clone(config),
            shared.registered_listeners(),
            quorum_id,
            Arc::clone(&shared.log_dirs),
            Arc::clone(&shared.shutdown),
        );
        let failing = Arc::clone(shared);
        *lifecycle_task.borrow_mut() = Some(glommio::spawn_local(async move {
            if let Err(error) = lifecycle.await {
                failing.fail(error.to_string());
            }
        }));
    }
    true
}

/// Creates `__consumer_offsets` if it is absent. Returns whether it did
/// (and so published the new image to every data shard).
async fn create_offsets_topic(control: &ControlShard, partitions: u32, segment_bytes: u64) -> bool {
    let name = skein_controller::group_coordinator::CONSUMER_OFFSETS_TOPIC;
    if control.image().topic(name).is_some() {
        return false;
    }
    let request = skein_net::shard_message::ControlRequest::CreateTopics {
        topics: vec![offsets_topic(partitions, segment_bytes)],
        validate_only: false,
    };
    match control.handle(request).await {
        skein_net::shard_message::ControlReply::CreatedTopics(results) => {
            for result in results {
                if let Err(error) = result {
                    tracing::error!(%error, "cannot create __consumer_offsets");
                }
            }
        }
        _ => tracing::error!("unexpected reply creating __consumer_offsets"),
    }
    // A refused creation published nothing.
    control.image().topic(name).is_some()
}

/// Brings an existing `__consumer_offsets`'s configs to what this broker
/// creates it with (data dirs from before compaction have
/// `cleanup.policy=delete`; `offsets.topic.segment.bytes` may have
/// changed), through the metadata log like any AlterConfigs. Returns whether
/// it changed them (and so published the new image to every data shard).
async fn update_offsets_topic_configs(control: &ControlShard, segment_bytes: u64) -> bool {
    let name = skein_controller::group_coordinator::CONSUMER_OFFSETS_TOPIC;
    let Some(topic) = control.image().topic(name).cloned() else {
        return false;
    };
    let ops: Vec<(String, Option<String>)> = skein_net::offsets_topic::topic_configs(segment_bytes)
        .into_iter()
        .filter(|(key, value)| topic.configs.get(key) != Some(value))
        .map(|(key, value)| (key, Some(value)))
        .collect();
    if ops.is_empty() {
        return false;
    }
    tracing::info!(?ops, "updating the configs of __consumer_offsets");
    let request = skein_net::shard_message::ControlRequest::AlterTopicConfigs {
        changes: vec![skein_net::shard_message::TopicConfigChange {
            topic: name.to_string(),
            replace_all: false,
            ops,
        }],
        validate_only: false,
    };
    match control.handle(request).await {
        skein_net::shard_message::ControlReply::AlteredConfigs(results) => {
            results.iter().all(|result| match result {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(%error, "cannot update the configs of __consumer_offsets");
                    false
                }
            })
        }
        _ => {
            tracing::error!("unexpected reply updating __consumer_offsets");
            false
        }
    }
}

/// Creates `__transaction_state` if it is absent. Returns whether it did
/// (and so published the new image to every data shard).
async fn create_transaction_state_topic(control: &ControlShard, config: &BrokerConfig) -> bool {
    let name = skein_controller::transaction_coordinator::TRANSACTION_STATE_TOPIC;
    if control.image().topic(name).is_some() {
        return false;
    }
    let request = skein_net::shard_message::ControlRequest::CreateTopics {
        topics: vec![transaction_state_topic(config)],
        validate_only: false,
    };
    match control.handle(request).await {
        skein_net::shard_message::ControlReply::CreatedTopics(results) => {
            for result in results {
                if let Err(error) = result {
                    tracing::error!(%error, "cannot create __transaction_state");
                }
            }
        }
        _ => tracing::error!("unexpected reply creating __transaction_state"),
    }
    control.image().topic(name).is_some()
}

/// Starts the transaction coordinator's timer and hands it every image the
/// data shards have applied ([`TransactionDriver::apply_image`]).
fn start_transaction_coordinator(control: &Rc<ControlShard>, transactions: &Rc<TransactionDriver>) {
    glommio::spawn_local(Rc::clone(transactions).run_timer()).detach();
    let loader = Rc::clone(transactions);
    let images = Rc::clone(control);
    glommio::spawn_local(async move {
        let mut applied = None;
        loop {
            if let Some(image) = images.published_image() {
                if applied != Some(image.version) {
                    applied = Some(image.version);
                    loader.apply_image(image);
                }
            }
            glommio::timer::sleep(Duration::from_millis(GROUP_IMAGE_POLL_MS)).await;
        }
    })
    .detach();
}

/// Starts the group coordinator's timer and hands it every image the data
/// shards have applied ([`GroupDriver::apply_image`]): it replays, in the
/// background, the `__consumer_offsets` partitions this broker is elected
/// to lead and unloads those it resigns.
fn start_group_coordinator(control: &Rc<ControlShard>, groups: &Rc<GroupDriver>) {
    glommio::spawn_local(Rc::clone(groups).run_timer()).detach();
    // The coordinator follows the leadership of __consumer_offsets in
    // every image the control shard has.
    let loader = Rc::clone(groups);
    let images = Rc::clone(control);
    glommio::spawn_local(async move {
        let mut applied = None;
        loop {
            // Only an image the data shards have applied: its logs are open.
            if let Some(image) = images.published_image() {
                if applied != Some(image.version) {
                    applied = Some(image.version);
                    loader.apply_image(image);
                }
            }
            glommio::timer::sleep(Duration::from_millis(GROUP_IMAGE_POLL_MS)).await;
        }
    })
    .detach();
}

async fn data_main(shared: Arc<Shared>, shard: ShardId, port: Port) {
    skein_engine::set_shard_segment_files_max(shared.segment_files_per_shard);
    let (mesh, inbox) = port.connect().await;
    // A cluster's id is the quorum's: known once its image records it.
    let cluster_id = loop {
        if let Some(id) = shared.cluster_id.get() {
            break id.clone();
        }
        if shared.shutdown.load(Ordering::SeqCst) {
            shared.drained.fetch_add(1, Ordering::SeqCst);
            return;
        }
        glommio::timer::sleep(Duration::from_millis(5)).await;
    };
    let mut state = ShardState::new(
        shard,
        shared.plan.clone(),
        Rc::new(shared.config.clone()),
        Arc::clone(&shared.log_dirs),
        shared.advertised.clone(),
        cluster_id,
        Arc::clone(&shared.controller_id),
        mesh,
    );
    state.peer_security = Arc::clone(&shared.peer_security);
    let ctx = Rc::new(state);
    shared.metrics.register(ctx.metrics.published());
    shared.metrics.register_mesh(ctx.mesh.stats());
    // From registration on, a scrape waits for this shard's gauges.
    let refreshing = glommio::spawn_local(refresh_partitions(
        Rc::clone(&ctx),
        Arc::clone(&shared.metrics),
    ));
    let (image_applied, first_image) = local_first_image();
    let server = Rc::clone(&ctx);
    // A broker-only node's first image is whatever prefix of the metadata
    // log its fetcher had applied once the cluster id was known: partitions
    // it still holds may not be in it yet, and removing their directories
    // as orphans would throw a replica away (seen: every partition of a
    // restarted broker-only node). Only a voter, whose image is its own
    // committed log, removes orphans at start.
    let sweeps_orphans = shard.0 == 0 && shared.config.roles().controller;
    glommio::spawn_local(inbox.serve(move |request| {
        let ctx = Rc::clone(&server);
        let image_applied = Rc::clone(&image_applied);
        async move {
            match request {
                ShardRequest::Partition {
                    topic_id,
                    partition,
                    op,
                } => ctx.execute(topic_id, partition, op).await,
                ShardRequest::Reads(reads) => fetch_reads::serve_reads(&ctx, reads).await,
                ShardRequest::Waits(waits) => fetch_reads::serve_waits(&ctx, waits).await,
                ShardRequest::ApplyImage(image) => {
                    // The sweep runs against the first image before this
                    // shard answers it: the control shard publishes the
                    // next image (which may add a topic whose directories
                    // another shard then makes) only once every shard
                    // answered, so no live directory is taken for an orphan
                    // (seen: __transaction_state created right after the
                    // first image lost its directories on a single node).
                    if sweeps_orphans && !image_applied.get() {
                        ctx.remove_orphan_dirs(&image);
                    }
                    ctx.apply_image(image).await;
                    ctx.metrics.set_partitions(ctx.partition_count());
                    image_applied.set(true);
                    ShardReply::ImageApplied
                }
                ShardRequest::Control(_)
                | ShardRequest::Group(_)
                | ShardRequest::Transaction(_) => ShardReply::Unavailable,
            }
        }
    }))
    .detach();
    // Serve nothing until the logs of the current image are recovered.
    while !first_image.get() {
        if shared.shutdown.load(Ordering::SeqCst) {
            shared.drained.fetch_add(1, Ordering::SeqCst);
            return;
        }
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    if shard.0 == 0 {
        shared.orphans_removed.store(true, Ordering::SeqCst);
    }
    // No shard accepts clients, which may create topics, before the orphan
    // directories are gone: a new topic's directory made on another shard
    // must not be taken for an orphan of the first image.
    while !shared.orphans_removed.load(Ordering::SeqCst) {
        if shared.shutdown.load(Ordering::SeqCst) {
            shared.drained.fetch_add(1, Ordering::SeqCst);
            return;
        }
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    if !shared.config.roles().broker {
        // A controller-only node holds no partitions and serves no clients.
        shared.wait_for_shutdown().await;
        drop(refreshing.cancel());
        shared.drained.fetch_add(1, Ordering::SeqCst);
        return;
    }
    let mut accepting: Vec<glommio::Task<()>> = Vec::new();
    for client_listener in &shared.client_listeners {
        let address = client_listener.endpoint.listen;
        let socket = match listener::bind(address) {
            Ok(socket) => socket,
            Err(error) => {
                shared.fail(format!(
                    "cannot listen on {address} (listener {}): {error}",
                    client_listener.endpoint.name
                ));
                for task in accepting {
                    drop(task.cancel());
                }
                shared.drained.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        accepting.push(glommio::spawn_local(listener::accept_loop(
            Rc::clone(&ctx),
            socket,
            Arc::clone(client_listener),
            Arc::clone(&shared.connection_quotas),
        )));
    }
    if shard.0 == 0 {
        let listeners: Vec<String> = shared
            .client_listeners
            .iter()
            .map(|l| {
                format!(
                    "{}://{} ({}, advertised {}:{})",
                    l.endpoint.name,
                    l.endpoint.listen,
                    l.security_protocol(),
                    l.endpoint.advertised.host,
                    l.endpoint.advertised.port
                )
            })
            .collect();
        tracing::info!(
            listen = %shared.listen,
            advertised = %format!("{}:{}", ctx.advertised.host, ctx.advertised.port),
            listeners = %listeners.join(", "),
            cores = %shared.cores,
            data_shards = shared.plan.data_shards(),
            data_dir = %shared.config.data_dir().display(),
            "skein started"
        );
    }
    shared.metrics.shard_listening();
    let retention = glommio::spawn_local(retention_loop(Rc::clone(&ctx)));
    let producer_expiration = glommio::spawn_local(producer_expiration_loop(Rc::clone(&ctx)));
    let fetching = glommio::spawn_local(skein_net::replica_fetcher::supervise(Rc::clone(&ctx)));
    let checkpointing = glommio::spawn_local(
        skein_net::shard_state::checkpoint_high_watermarks_periodically(Rc::clone(&ctx)),
    );
    let isr_changes = glommio::spawn_local(skein_net::isr_driver::run(Rc::clone(&ctx)));
    let cleaner = ctx
        .config
        .log_cleaner_enable()
        .then(|| spawn_cleaner(Rc::clone(&ctx)));
    shared.wait_for_shutdown().await;
    shared.metrics.stopping();
    ctx.stop();
    for task in accepting {
        drop(task.cancel());
    }
    drop(retention.cancel());
    drop(producer_expiration.cancel());
    drop(fetching.cancel());
    drop(checkpointing.cancel());
    drop(isr_changes.cancel());
    drop(refreshing.cancel());
    if let Some(cleaner) = cleaner {
        drop(cleaner.cancel());
    }
    let started = std::time::Instant::now();
    while ctx.in_flight_requests.get() > 0 && started.elapsed() < DRAIN_TIMEOUT {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    shared.drained.fetch_add(1, Ordering::SeqCst);
    while shared.drained.load(Ordering::SeqCst) < shared.plan.data_shards() {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    ctx.close_logs().await;
    if shard.0 == 0 {
        tracing::info!("skein stopped");
    }
}

/// Claims every client listener's address (see [`claim_listen_address`];
/// port 0 becomes the port picked, advertised too unless given) and
/// prepares each with its security protocol (an SSL listener reads its key
/// and certificates here, so a bad one stops the start).
/// The controller listener of a voter of a cluster, with its protocol.
fn served_controller_listener(config: &BrokerConfig) -> Option<(String, String)> {
    let listener = config.controller_listener()?;
    if !config.roles().controller || config.is_single_node() {
        return None;
    }
    let protocol = config.security_protocol(&listener.name)?;
    Some((listener.name, protocol))
}

/// The SASL of the controller listener of a voter whose controller
/// listener is SASL_PLAINTEXT or SASL_SSL (validated: see
/// `BrokerConfig::validate`).
fn controller_listener_sasl(
    config: &BrokerConfig,
) -> Result<Option<Arc<skein_controller::ListenerSasl>>, NodeError> {
    match served_controller_listener(config) {
        Some((name, protocol)) if protocol.starts_with("SASL_") => config
            .listener_sasl(&name)
            .resolve()
            .map(|sasl| Some(Arc::new(sasl)))
            .map_err(NodeError::Startup),
        _ => Ok(None),
    }
}

/// The TLS of the controller listener of a voter whose controller
/// listener is SSL or SASL_SSL (validated: see `BrokerConfig::validate`).
fn controller_listener_tls(
    config: &BrokerConfig,
) -> Result<Option<Arc<skein_net::tls::ListenerTls>>, NodeError> {
    let Some((name, protocol)) = served_controller_listener(config) else {
        return Ok(None);
    };
    if !matches!(protocol.as_str(), "SSL" | "SASL_SSL") {
        return Ok(None);
    }
    skein_net::tls::ListenerTls::load(config.listener_ssl(&name))
        .map(|tls| Some(Arc::new(tls)))
        .map_err(|error| NodeError::Startup(format!("controller listener {name}: {error}")))
}

fn prepare_client_listeners(
    config: &BrokerConfig,
    endpoints: Vec<ListenerEndpoint>,
) -> Result<Vec<Arc<ClientListener>>, NodeError> {
    endpoints
        .into_iter()
        .map(|mut endpoint| {
            let asked = endpoint.listen;
            endpoint.listen = claim_listen_address(asked)?;
            if asked.port() == 0 && endpoint.advertised.port == 0 {
                endpoint.advertised.port = endpoint.listen.port();
            }
            ClientListener::prepare(config, endpoint)
                .map(Arc::new)
                .map_err(NodeError::Startup)
        })
        .collect()
}

/// Checks every log directory each `interval` (see [`LogDirs::probe`]) on
/// a thread of its own, so a hung disk stalls no shard, until `shutdown`.
fn spawn_log_dir_prober(
    log_dirs: Arc<LogDirs>,
    interval: Duration,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("skein-log-dir-prober".into())
        .spawn(move || {
            let tick = interval.min(SHUTDOWN_POLL.max(Duration::from_millis(50)));
            let mut waited = Duration::ZERO;
            while !shutdown.load(Ordering::SeqCst) {
                std::thread::sleep(tick);
                waited += tick;
                if waited >= interval {
                    waited = Duration::ZERO;
                    log_dirs.probe();
                }
            }
        })
}

/// Takes an exclusive lock on `data_dir/.lock` (Kafka's name), held as long
/// as the returned file is open.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, NodeError> {
    let path = data_dir.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| NodeError::Startup(format!("cannot open {}: {error}", path.display())))?;
    let locked = retry_while_predecessor_exits(|| {
        // SAFETY: flock on a descriptor we own; it does not touch memory.
        let status = unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        };
        (status == 0).then_some(())
    });
    if locked.is_none() {
        return Err(NodeError::Startup(format!(
            "data dir {} is in use by another broker (cannot lock {})",
            data_dir.display(),
            path.display()
        )));
    }
    Ok(file)
}

/// The shards bind the listen address with SO_REUSEPORT, which would let a
/// second broker share the port unnoticed. So a broker already listening
/// there (one that accepts a connection) stops this one. A plain bind is no
/// test: after a kill -9, a client reconnecting to the dead port can
/// occupy it by connecting to itself, and a bind would then fail although
/// nobody listens. For port 0, one bind picks the port every shard uses.
fn claim_listen_address(listen: SocketAddr) -> Result<SocketAddr, NodeError> {
    if listen.port() == 0 {
        let probe = std::net::TcpListener::bind(listen)
            .map_err(|error| NodeError::Startup(format!("cannot listen on {listen}: {error}")))?;
        return probe
            .local_addr()
            .map_err(|error| NodeError::Startup(format!("cannot listen on {listen}: {error}")));
    }
    let mut target = listen;
    if listen.ip().is_unspecified() {
        target.set_ip(if listen.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    // A broker killed a moment ago may still answer: its io_uring (a
    // pending accept holds the listening socket) is torn down after the
    // process is reaped. Only a listener that stays is another process.
    let free = retry_while_predecessor_exits(|| {
        let answered =
            std::net::TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_ok();
        (!answered).then_some(())
    });
    if free.is_none() {
        return Err(NodeError::Startup(format!(
            "cannot listen on {listen}: another process is already listening there"
        )));
    }
    Ok(listen)
}

/// Tries `attempt` for up to [`PREDECESSOR_EXIT_TIMEOUT`]: a broker that
/// was just killed still holds its data-dir lock and its port while the
/// kernel tears it down, and a restart right after it must not fail for
/// that. A live broker keeps them, so the start still fails, only later.
fn retry_while_predecessor_exits<T>(mut attempt: impl FnMut() -> Option<T>) -> Option<T> {
    let started = std::time::Instant::now();
    loop {
        if let Some(done) = attempt() {
            return Some(done);
        }
        if started.elapsed() >= PREDECESSOR_EXIT_TIMEOUT {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A shard-local "first image applied" flag.
fn local_first_image() -> (Rc<std::cell::Cell<bool>>, Rc<std::cell::Cell<bool>>) {
    let flag = Rc::new(std::cell::Cell::new(false));
    (Rc::clone(&flag), flag)
}

async fn retention_loop(ctx: Rc<ShardState>) {
    let interval = Duration::from_millis(ctx.config.retention_check_interval_ms());
    loop {
        glommio::timer::sleep(interval).await;
        ctx.enforce_retention().await;
    }
}

/// Forgets idle idempotent producers every
/// `producer.id.expiration.check.interval.ms` (Kafka's
/// `ProducerStateManager.removeExpiredProducers`).
async fn producer_expiration_loop(ctx: Rc<ShardState>) {
    let interval = Duration::from_millis(ctx.config.producer_id_expiration_check_interval_ms());
    let expiration_ms = ctx.config.producer_id_expiration_ms();
    loop {
        glommio::timer::sleep(interval).await;
        let expired = ctx.expire_producers(expiration_ms);
        if expired > 0 {
            tracing::debug!(expired, "expired idle idempotent producers");
        }
    }
}

/// Publishes this data shard's partition gauges whenever a scrape asks.
async fn refresh_partitions(ctx: Rc<ShardState>, metrics: Arc<MetricsRegistry>) {
    refresh_on_scrape(&metrics, |generation| {
        ctx.metrics
            .publish_partitions(generation, ctx.partition_gauges());
    })
    .await;
}

/// Publishes the consumer groups whenever a scrape asks. Control shard only.
async fn refresh_groups(groups: Rc<GroupDriver>, metrics: Arc<MetricsRegistry>) {
    refresh_on_scrape(&metrics, |generation| {
        metrics.publish_groups(generation, groups.group_gauges());
    })
    .await;
}

/// Calls `publish(generation)` once for every scrape generation it sees,
/// looking every `REFRESH_POLL` (see `metrics`: no thread wakes a shard's
/// task, the shard polls).
async fn refresh_on_scrape(metrics: &MetricsRegistry, publish: impl Fn(u64)) {
    let mut published = None;
    loop {
        let generation = metrics.scrape_generation();
        if published != Some(generation) {
            publish(generation);
            published = Some(generation);
        }
        glommio::timer::sleep(skein_net::metrics::REFRESH_POLL).await;
    }
}

/// Starts the shard's log cleaner in its own task queue: compaction is
/// background work and yields the core to requests (`Latency::NotImportant`,
/// a small share). Falls back to the default queue if glommio refuses a new
/// one.
fn spawn_cleaner(ctx: Rc<ShardState>) -> glommio::Task<()> {
    let queue = glommio::executor().create_task_queue(
        glommio::Shares::Static(CLEANER_SHARES),
        glommio::Latency::NotImportant,
        "log-cleaner",
    );
    match glommio::spawn_local_into(cleaner_loop(Rc::clone(&ctx)), queue) {
        Ok(task) => task,
        Err(error) => {
            tracing::warn!(%error, "no task queue for the log cleaner; it shares the default one");
            glommio::spawn_local(cleaner_loop(ctx))
        }
    }
}

/// glommio shares of the cleaner's task queue (the default queue has 1000).
const CLEANER_SHARES: usize = 100;

/// Compacts this shard's partitions whose `cleanup.policy` includes
/// `compact`, sleeping `log.cleaner.backoff.ms` whenever a round found
/// nothing to do (Kafka's cleaner threads do the same).
async fn cleaner_loop(ctx: Rc<ShardState>) {
    let backoff = Duration::from_millis(ctx.config.log_cleaner_backoff_ms());
    loop {
        if !ctx.compact_logs().await {
            glommio::timer::sleep(backoff).await;
        }
    }
}

/// The cluster id: 22 characters of URL-safe base64 of 16 random bytes, as
/// Kafka's, made on first start and kept in the metadata directory.
fn load_or_create_cluster_id(data_dir: &Path) -> std::io::Result<String> {
    if let Some(id) = read_cluster_id(data_dir) {
        return Ok(id);
    }
    let id = new_cluster_id();
    write_cluster_id(data_dir, &id)?;
    Ok(id)
}

/// The cluster id stored in the metadata directory, if any.
fn read_cluster_id(data_dir: &Path) -> Option<String> {
    let path = data_dir.join("__skein_metadata").join("cluster.id");
    let id = std::fs::read_to_string(path).ok()?.trim().to_string();
    (!id.is_empty()).then_some(id)
}

/// Stores `id` as this node's cluster id, durably (write, fsync, rename).
fn write_cluster_id(data_dir: &Path, id: &str) -> std::io::Result<()> {
    let dir = data_dir.join("__skein_metadata");
    std::fs::create_dir_all(&dir)?;
    let temporary = dir.join("cluster.id.tmp");
    std::fs::write(&temporary, id)?;
    std::fs::File::open(&temporary)?.sync_all()?;
    std::fs::rename(&temporary, dir.join("cluster.id"))?;
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}

/// A fresh cluster id: 22 characters of URL-safe base64 of 16 random bytes.
pub(crate) fn new_cluster_id() -> String {
    base64_url(uuid::Uuid::new_v4().as_bytes())
}

/// The digit of the low six bits of `bits`.
fn base64_digit(alphabet: &[u8; 64], bits: u32) -> char {
    char::from(alphabet.get((bits & 63) as usize).copied().unwrap_or(b'A'))
}

fn base64_url(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut count = 0;
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        count += 8;
        while count >= 6 {
            count -= 6;
            out.push(base64_digit(ALPHABET, bits >> count));
        }
    }
    if count > 0 {
        out.push(base64_digit(ALPHABET, bits << (6 - count)));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        assert_eq!(base64_url(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(base64_url(&[0xff; 16]), "_____________________w");
        let dir = tempfile::tempdir().unwrap();
        let id = load_or_create_cluster_id(dir.path()).unwrap();
        assert_eq!(id.len(), 22);
        assert_eq!(
            load_or_create_cluster_id(dir.path()).unwrap(),
            id,
            "stable across restarts"
        );
    }
}
