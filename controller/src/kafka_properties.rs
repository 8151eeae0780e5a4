//! Every Apache Kafka 4.0 broker and topic property by name, type and default,
//! as Kafka documents them (the generated `kafka_config.html` and
//! `topic_config.html` of Kafka 4.0's documentation). Skein knows each of
//! them: the ones it implements are in `config::PROPERTIES`; what it does
//! with the others is [`kafka_support`]. Invariant: names are unique and
//! sorted within each table (a test checks both).

/// The type Kafka gives a property (its `ConfigDef.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaType {
    /// Kafka's `BOOLEAN`.
    Boolean,
    /// Kafka's `STRING`.
    String,
    /// Kafka's `INT`.
    Int,
    /// Kafka's `LONG`.
    Long,
    /// Kafka's `DOUBLE`.
    Double,
    /// Kafka's `LIST`.
    List,
    /// Kafka's `CLASS`.
    Class,
    /// Kafka's `PASSWORD`.
    Password,
    /// Kafka's `SHORT`.
    Short,
}

/// One Kafka property as Kafka documents it.
#[derive(Debug, Clone, Copy)]
pub struct KafkaProperty {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: KafkaType,
    /// Its default as Kafka writes it; `None` where Kafka has none (null).
    pub default: Option<&'static str>,
}

/// Kafka 4.0's broker properties.
#[rustfmt::skip]
pub const KAFKA_BROKER_PROPERTIES: &[KafkaProperty] = &[
    KafkaProperty { name: "add.partitions.to.txn.retry.backoff.max.ms", kind: KafkaType::Int, default: Some("100") },
    KafkaProperty { name: "add.partitions.to.txn.retry.backoff.ms", kind: KafkaType::Int, default: Some("20") },
    KafkaProperty { name: "advertised.listeners", kind: KafkaType::String, default: None },
    KafkaProperty { name: "alter.config.policy.class.name", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "alter.log.dirs.replication.quota.window.num", kind: KafkaType::Int, default: Some("11") },
    KafkaProperty { name: "alter.log.dirs.replication.quota.window.size.seconds", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "authorizer.class.name", kind: KafkaType::String, default: Some("") },
    KafkaProperty { name: "auto.create.topics.enable", kind: KafkaType::Boolean, default: Some("true") },
    KafkaProperty { name: "auto.leader.rebalance.enable", kind: KafkaType::Boolean, default: Some("true") },
    KafkaProperty { name: "background.threads", kind: KafkaType::Int, default: Some("10") },
    KafkaProperty { name: "broker.heartbeat.interval.ms", kind: KafkaType::Int, default: Some("2000") },
    KafkaProperty { name: "broker.id", kind: KafkaType::Int, default: Some("-1") },
    KafkaProperty { name: "broker.rack", kind: KafkaType::String, default: None },
    KafkaProperty { name: "broker.session.timeout.ms", kind: KafkaType::Int, default: Some("9000") },
    KafkaProperty { name: "client.quota.callback.class", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "compression.gzip.level", kind: KafkaType::Int, default: Some("-1") },
    KafkaProperty { name: "compression.lz4.level", kind: KafkaType::Int, default: Some("9") },
    KafkaProperty { name: "compression.type", kind: KafkaType::String, default: Some("producer") },
    KafkaProperty { name: "compression.zstd.level", kind: KafkaType::Int, default: Some("3") },
    KafkaProperty { name: "connection.failed.authentication.delay.ms", kind: KafkaType::Int, default: Some("100") },
    KafkaProperty { name: "connections.max.idle.ms", kind: KafkaType::Long, default: Some("600000") },
    KafkaProperty { name: "connections.max.reauth.ms", kind: KafkaType::Long, default: Some("0") },
    KafkaProperty { name: "controlled.shutdown.enable", kind: KafkaType::Boolean, default: Some("true") },
    KafkaProperty { name: "controller.listener.names", kind: KafkaType::String, default: None },
    KafkaProperty { name: "controller.quorum.append.linger.ms", kind: KafkaType::Int, default: Some("25") },
    KafkaProperty { name: "controller.quorum.bootstrap.servers", kind: KafkaType::List, default: Some("") },
    KafkaProperty { name: "controller.quorum.election.backoff.max.ms", kind: KafkaType::Int, default: Some("1000") },
    KafkaProperty { name: "controller.quorum.election.timeout.ms", kind: KafkaType::Int, default: Some("1000") },
    KafkaProperty { name: "controller.quorum.fetch.timeout.ms", kind: KafkaType::Int, default: Some("2000") },
    KafkaProperty { name: "controller.quorum.request.timeout.ms", kind: KafkaType::Int, default: Some("2000") },
    KafkaProperty { name: "controller.quorum.retry.backoff.ms", kind: KafkaType::Int, default: Some("20") },
    KafkaProperty { name: "controller.quorum.voters", kind: KafkaType::List, default: Some("") },
    KafkaProperty { name: "controller.quota.window.num", kind: KafkaType::Int, default: Some("11") },
    KafkaProperty { name: "controller.quota.window.size.seconds", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "controller.socket.timeout.ms", kind: KafkaType::Int, default: Some("30000") },
    KafkaProperty { name: "create.topic.policy.class.name", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "default.replication.factor", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "delegation.token.expiry.check.interval.ms", kind: KafkaType::Long, default: Some("3600000") },
    KafkaProperty { name: "delegation.token.expiry.time.ms", kind: KafkaType::Long, default: Some("86400000") },
    KafkaProperty { name: "delegation.token.max.lifetime.ms", kind: KafkaType::Long, default: Some("604800000") },
    KafkaProperty { name: "delegation.token.secret.key", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "delete.records.purgatory.purge.interval.requests", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "delete.topic.enable", kind: KafkaType::Boolean, default: Some("true") },
    KafkaProperty { name: "early.start.listeners", kind: KafkaType::String, default: None },
    KafkaProperty { name: "fetch.max.bytes", kind: KafkaType::Int, default: Some("57671680") },
    KafkaProperty { name: "fetch.purgatory.purge.interval.requests", kind: KafkaType::Int, default: Some("1000") },
    KafkaProperty { name: "group.consumer.assignors", kind: KafkaType::List, default: Some("uniform,range") },
    KafkaProperty { name: "group.consumer.heartbeat.interval.ms", kind: KafkaType::Int, default: Some("5000") },
    KafkaProperty { name: "group.consumer.max.heartbeat.interval.ms", kind: KafkaType::Int, default: Some("15000") },
    KafkaProperty { name: "group.consumer.max.session.timeout.ms", kind: KafkaType::Int, default: Some("60000") },
    KafkaProperty { name: "group.consumer.max.size", kind: KafkaType::Int, default: Some("2147483647") },
    KafkaProperty { name: "group.consumer.migration.policy", kind: KafkaType::String, default: Some("bidirectional") },
    KafkaProperty { name: "group.consumer.min.heartbeat.interval.ms", kind: KafkaType::Int, default: Some("5000") },
    KafkaProperty { name: "group.consumer.min.session.timeout.ms", kind: KafkaType::Int, default: Some("45000") },
    KafkaProperty { name: "group.consumer.session.timeout.ms", kind: KafkaType::Int, default: Some("45000") },
    KafkaProperty { name: "group.coordinator.append.linger.ms", kind: KafkaType::Int, default: Some("5") },
    KafkaProperty { name: "group.coordinator.rebalance.protocols", kind: KafkaType::List, default: Some("classic,consumer") },
    KafkaProperty { name: "group.coordinator.threads", kind: KafkaType::Int, default: Some("4") },
    KafkaProperty { name: "group.initial.rebalance.delay.ms", kind: KafkaType::Int, default: Some("3000") },
    KafkaProperty { name: "group.max.session.timeout.ms", kind: KafkaType::Int, default: Some("1800000") },
    KafkaProperty { name: "group.max.size", kind: KafkaType::Int, default: Some("2147483647") },
    KafkaProperty { name: "group.min.session.timeout.ms", kind: KafkaType::Int, default: Some("6000") },
    KafkaProperty { name: "group.share.delivery.count.limit", kind: KafkaType::Int, default: Some("5") },
    KafkaProperty { name: "group.share.heartbeat.interval.ms", kind: KafkaType::Int, default: Some("5000") },
    KafkaProperty { name: "group.share.max.groups", kind: KafkaType::Short, default: Some("10") },
    KafkaProperty { name: "group.share.max.heartbeat.interval.ms", kind: KafkaType::Int, default: Some("15000") },
    KafkaProperty { name: "group.share.max.record.lock.duration.ms", kind: KafkaType::Int, default: Some("60000") },
    KafkaProperty { name: "group.share.max.session.timeout.ms", kind: KafkaType::Int, default: Some("60000") },
    KafkaProperty { name: "group.share.max.size", kind: KafkaType::Int, default: Some("200") },
    KafkaProperty { name: "group.share.min.heartbeat.interval.ms", kind: KafkaType::Int, default: Some("5000") },
    KafkaProperty { name: "group.share.min.record.lock.duration.ms", kind: KafkaType::Int, default: Some("15000") },
    KafkaProperty { name: "group.share.min.session.timeout.ms", kind: KafkaType::Int, default: Some("45000") },
    KafkaProperty { name: "group.share.partition.max.record.locks", kind: KafkaType::Int, default: Some("200") },
    KafkaProperty { name: "group.share.record.lock.duration.ms", kind: KafkaType::Int, default: Some("30000") },
    KafkaProperty { name: "group.share.session.timeout.ms", kind: KafkaType::Int, default: Some("45000") },
    KafkaProperty { name: "initial.broker.registration.timeout.ms", kind: KafkaType::Int, default: Some("60000") },
    KafkaProperty { name: "inter.broker.listener.name", kind: KafkaType::String, default: None },
    KafkaProperty { name: "kafka.metrics.polling.interval.secs", kind: KafkaType::Int, default: Some("10") },
    KafkaProperty { name: "kafka.metrics.reporters", kind: KafkaType::List, default: Some("") },
    KafkaProperty { name: "leader.imbalance.check.interval.seconds", kind: KafkaType::Long, default: Some("300") },
    KafkaProperty { name: "listener.security.protocol.map", kind: KafkaType::String, default: Some("SASL_SSL:SASL_SSL,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT") },
    KafkaProperty { name: "listeners", kind: KafkaType::String, default: Some("PLAINTEXT://:9092") },
    KafkaProperty { name: "log.cleaner.backoff.ms", kind: KafkaType::Long, default: Some("15000") },
    KafkaProperty { name: "log.cleaner.dedupe.buffer.size", kind: KafkaType::Long, default: Some("134217728") },
    KafkaProperty { name: "log.cleaner.delete.retention.ms", kind: KafkaType::Long, default: Some("86400000") },
    KafkaProperty { name: "log.cleaner.enable", kind: KafkaType::Boolean, default: Some("true") },
    KafkaProperty { name: "log.cleaner.io.buffer.load.factor", kind: KafkaType::Double, default: Some("0.9") },
    KafkaProperty { name: "log.cleaner.io.buffer.size", kind: KafkaType::Int, default: Some("524288") },
    KafkaProperty { name: "log.cleaner.io.max.bytes.per.second", kind: KafkaType::Double, default: Some("1.7976931348623157E308") },
    KafkaProperty { name: "log.cleaner.max.compaction.lag.ms", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "log.cleaner.min.cleanable.ratio", kind: KafkaType::Double, default: Some("0.5") },
    KafkaProperty { name: "log.cleaner.min.compaction.lag.ms", kind: KafkaType::Long, default: Some("0") },
    KafkaProperty { name: "log.cleaner.threads", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "log.cleanup.policy", kind: KafkaType::List, default: Some("delete") },
    KafkaProperty { name: "log.dir", kind: KafkaType::String, default: Some("/tmp/kafka-logs") },
    KafkaProperty { name: "log.dir.failure.timeout.ms", kind: KafkaType::Long, default: Some("30000") },
    KafkaProperty { name: "log.dirs", kind: KafkaType::String, default: None },
    KafkaProperty { name: "log.flush.interval.messages", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "log.flush.interval.ms", kind: KafkaType::Long, default: None },
    KafkaProperty { name: "log.flush.offset.checkpoint.interval.ms", kind: KafkaType::Int, default: Some("60000") },
    KafkaProperty { name: "log.flush.scheduler.interval.ms", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "log.flush.start.offset.checkpoint.interval.ms", kind: KafkaType::Int, default: Some("60000") },
    KafkaProperty { name: "log.index.interval.bytes", kind: KafkaType::Int, default: Some("4096") },
    KafkaProperty { name: "log.index.size.max.bytes", kind: KafkaType::Int, default: Some("10485760") },
    KafkaProperty { name: "log.local.retention.bytes", kind: KafkaType::Long, default: Some("-2") },
    KafkaProperty { name: "log.local.retention.ms", kind: KafkaType::Long, default: Some("-2") },
    KafkaProperty { name: "log.message.timestamp.after.max.ms", kind: KafkaType::Long, default: Some("3600000") },
    KafkaProperty { name: "log.message.timestamp.before.max.ms", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "log.message.timestamp.type", kind: KafkaType::String, default: Some("CreateTime") },
    KafkaProperty { name: "log.preallocate", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "log.retention.bytes", kind: KafkaType::Long, default: Some("-1") },
    KafkaProperty { name: "log.retention.check.interval.ms", kind: KafkaType::Long, default: Some("300000") },
    KafkaProperty { name: "log.retention.hours", kind: KafkaType::Int, default: Some("168") },
    KafkaProperty { name: "log.retention.minutes", kind: KafkaType::Int, default: None },
    KafkaProperty { name: "log.retention.ms", kind: KafkaType::Long, default: None },
    KafkaProperty { name: "log.roll.hours", kind: KafkaType::Int, default: Some("168") },
    KafkaProperty { name: "log.roll.jitter.hours", kind: KafkaType::Int, default: Some("0") },
    KafkaProperty { name: "log.roll.jitter.ms", kind: KafkaType::Long, default: None },
    KafkaProperty { name: "log.roll.ms", kind: KafkaType::Long, default: None },
    KafkaProperty { name: "log.segment.bytes", kind: KafkaType::Int, default: Some("1073741824") },
    KafkaProperty { name: "log.segment.delete.delay.ms", kind: KafkaType::Long, default: Some("60000") },
    KafkaProperty { name: "max.connection.creation.rate", kind: KafkaType::Int, default: Some("2147483647") },
    KafkaProperty { name: "max.connections", kind: KafkaType::Int, default: Some("2147483647") },
    KafkaProperty { name: "max.connections.per.ip", kind: KafkaType::Int, default: Some("2147483647") },
    KafkaProperty { name: "max.connections.per.ip.overrides", kind: KafkaType::String, default: Some("") },
    KafkaProperty { name: "max.incremental.fetch.session.cache.slots", kind: KafkaType::Int, default: Some("1000") },
    KafkaProperty { name: "max.request.partition.size.limit", kind: KafkaType::Int, default: Some("2000") },
    KafkaProperty { name: "message.max.bytes", kind: KafkaType::Int, default: Some("1048588") },
    KafkaProperty { name: "metadata.log.dir", kind: KafkaType::String, default: None },
    KafkaProperty { name: "metadata.log.max.record.bytes.between.snapshots", kind: KafkaType::Long, default: Some("20971520") },
    KafkaProperty { name: "metadata.log.max.snapshot.interval.ms", kind: KafkaType::Long, default: Some("3600000") },
    KafkaProperty { name: "metadata.log.segment.bytes", kind: KafkaType::Int, default: Some("1073741824") },
    KafkaProperty { name: "metadata.log.segment.ms", kind: KafkaType::Long, default: Some("604800000") },
    KafkaProperty { name: "metadata.max.idle.interval.ms", kind: KafkaType::Int, default: Some("500") },
    KafkaProperty { name: "metadata.max.retention.bytes", kind: KafkaType::Long, default: Some("104857600") },
    KafkaProperty { name: "metadata.max.retention.ms", kind: KafkaType::Long, default: Some("604800000") },
    KafkaProperty { name: "metric.reporters", kind: KafkaType::List, default: Some("org.apache.kafka.common.metrics.JmxReporter") },
    KafkaProperty { name: "metrics.num.samples", kind: KafkaType::Int, default: Some("2") },
    KafkaProperty { name: "metrics.recording.level", kind: KafkaType::String, default: Some("INFO") },
    KafkaProperty { name: "metrics.sample.window.ms", kind: KafkaType::Long, default: Some("30000") },
    KafkaProperty { name: "min.insync.replicas", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "node.id", kind: KafkaType::Int, default: None },
    KafkaProperty { name: "num.io.threads", kind: KafkaType::Int, default: Some("8") },
    KafkaProperty { name: "num.network.threads", kind: KafkaType::Int, default: Some("3") },
    KafkaProperty { name: "num.partitions", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "num.recovery.threads.per.data.dir", kind: KafkaType::Int, default: Some("2") },
    KafkaProperty { name: "num.replica.alter.log.dirs.threads", kind: KafkaType::Int, default: None },
    KafkaProperty { name: "num.replica.fetchers", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "offset.metadata.max.bytes", kind: KafkaType::Int, default: Some("4096") },
    KafkaProperty { name: "offsets.commit.timeout.ms", kind: KafkaType::Int, default: Some("5000") },
    KafkaProperty { name: "offsets.load.buffer.size", kind: KafkaType::Int, default: Some("5242880") },
    KafkaProperty { name: "offsets.retention.check.interval.ms", kind: KafkaType::Long, default: Some("600000") },
    KafkaProperty { name: "offsets.retention.minutes", kind: KafkaType::Int, default: Some("10080") },
    KafkaProperty { name: "offsets.topic.compression.codec", kind: KafkaType::Int, default: Some("0") },
    KafkaProperty { name: "offsets.topic.num.partitions", kind: KafkaType::Int, default: Some("50") },
    KafkaProperty { name: "offsets.topic.replication.factor", kind: KafkaType::Short, default: Some("3") },
    KafkaProperty { name: "offsets.topic.segment.bytes", kind: KafkaType::Int, default: Some("104857600") },
    KafkaProperty { name: "principal.builder.class", kind: KafkaType::Class, default: Some("org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder") },
    KafkaProperty { name: "process.roles", kind: KafkaType::List, default: None },
    KafkaProperty { name: "producer.id.expiration.ms", kind: KafkaType::Int, default: Some("86400000") },
    KafkaProperty { name: "producer.purgatory.purge.interval.requests", kind: KafkaType::Int, default: Some("1000") },
    KafkaProperty { name: "queued.max.request.bytes", kind: KafkaType::Long, default: Some("-1") },
    KafkaProperty { name: "queued.max.requests", kind: KafkaType::Int, default: Some("500") },
    KafkaProperty { name: "quota.window.num", kind: KafkaType::Int, default: Some("11") },
    KafkaProperty { name: "quota.window.size.seconds", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "remote.fetch.max.wait.ms", kind: KafkaType::Int, default: Some("500") },
    KafkaProperty { name: "remote.list.offsets.request.timeout.ms", kind: KafkaType::Long, default: Some("30000") },
    KafkaProperty { name: "remote.log.index.file.cache.total.size.bytes", kind: KafkaType::Long, default: Some("1073741824") },
    KafkaProperty { name: "remote.log.manager.copier.thread.pool.size", kind: KafkaType::Int, default: Some("10") },
    KafkaProperty { name: "remote.log.manager.copy.max.bytes.per.second", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "remote.log.manager.copy.quota.window.num", kind: KafkaType::Int, default: Some("11") },
    KafkaProperty { name: "remote.log.manager.copy.quota.window.size.seconds", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "remote.log.manager.expiration.thread.pool.size", kind: KafkaType::Int, default: Some("10") },
    KafkaProperty { name: "remote.log.manager.fetch.max.bytes.per.second", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "remote.log.manager.fetch.quota.window.num", kind: KafkaType::Int, default: Some("11") },
    KafkaProperty { name: "remote.log.manager.fetch.quota.window.size.seconds", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "remote.log.manager.task.interval.ms", kind: KafkaType::Long, default: Some("30000") },
    KafkaProperty { name: "remote.log.manager.thread.pool.size", kind: KafkaType::Int, default: Some("2") },
    KafkaProperty { name: "remote.log.metadata.custom.metadata.max.bytes", kind: KafkaType::Int, default: Some("128") },
    KafkaProperty { name: "remote.log.metadata.manager.class.name", kind: KafkaType::String, default: Some("org.apache.kafka.server.log.remote.metadata.storage.TopicBasedRemoteLogMetadataManager") },
    KafkaProperty { name: "remote.log.metadata.manager.class.path", kind: KafkaType::String, default: None },
    KafkaProperty { name: "remote.log.metadata.manager.impl.prefix", kind: KafkaType::String, default: Some("rlmm.config.") },
    KafkaProperty { name: "remote.log.metadata.manager.listener.name", kind: KafkaType::String, default: None },
    KafkaProperty { name: "remote.log.reader.max.pending.tasks", kind: KafkaType::Int, default: Some("100") },
    KafkaProperty { name: "remote.log.reader.threads", kind: KafkaType::Int, default: Some("10") },
    KafkaProperty { name: "remote.log.storage.manager.class.name", kind: KafkaType::String, default: None },
    KafkaProperty { name: "remote.log.storage.manager.class.path", kind: KafkaType::String, default: None },
    KafkaProperty { name: "remote.log.storage.manager.impl.prefix", kind: KafkaType::String, default: Some("rsm.config.") },
    KafkaProperty { name: "remote.log.storage.system.enable", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "replica.fetch.backoff.ms", kind: KafkaType::Int, default: Some("1000") },
    KafkaProperty { name: "replica.fetch.max.bytes", kind: KafkaType::Int, default: Some("1048576") },
    KafkaProperty { name: "replica.fetch.min.bytes", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "replica.fetch.response.max.bytes", kind: KafkaType::Int, default: Some("10485760") },
    KafkaProperty { name: "replica.fetch.wait.max.ms", kind: KafkaType::Int, default: Some("500") },
    KafkaProperty { name: "replica.high.watermark.checkpoint.interval.ms", kind: KafkaType::Long, default: Some("5000") },
    KafkaProperty { name: "replica.lag.time.max.ms", kind: KafkaType::Long, default: Some("30000") },
    KafkaProperty { name: "replica.selector.class", kind: KafkaType::String, default: None },
    KafkaProperty { name: "replica.socket.receive.buffer.bytes", kind: KafkaType::Int, default: Some("65536") },
    KafkaProperty { name: "replica.socket.timeout.ms", kind: KafkaType::Int, default: Some("30000") },
    KafkaProperty { name: "replication.quota.window.num", kind: KafkaType::Int, default: Some("11") },
    KafkaProperty { name: "replication.quota.window.size.seconds", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "request.timeout.ms", kind: KafkaType::Int, default: Some("30000") },
    KafkaProperty { name: "sasl.client.callback.handler.class", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "sasl.enabled.mechanisms", kind: KafkaType::List, default: Some("GSSAPI") },
    KafkaProperty { name: "sasl.jaas.config", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "sasl.kerberos.kinit.cmd", kind: KafkaType::String, default: Some("/usr/bin/kinit") },
    KafkaProperty { name: "sasl.kerberos.min.time.before.relogin", kind: KafkaType::Long, default: Some("60000") },
    KafkaProperty { name: "sasl.kerberos.principal.to.local.rules", kind: KafkaType::List, default: Some("DEFAULT") },
    KafkaProperty { name: "sasl.kerberos.service.name", kind: KafkaType::String, default: None },
    KafkaProperty { name: "sasl.kerberos.ticket.renew.jitter", kind: KafkaType::Double, default: Some("0.05") },
    KafkaProperty { name: "sasl.kerberos.ticket.renew.window.factor", kind: KafkaType::Double, default: Some("0.8") },
    KafkaProperty { name: "sasl.login.callback.handler.class", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "sasl.login.class", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "sasl.login.connect.timeout.ms", kind: KafkaType::Int, default: None },
    KafkaProperty { name: "sasl.login.read.timeout.ms", kind: KafkaType::Int, default: None },
    KafkaProperty { name: "sasl.login.refresh.buffer.seconds", kind: KafkaType::Short, default: Some("300") },
    KafkaProperty { name: "sasl.login.refresh.min.period.seconds", kind: KafkaType::Short, default: Some("60") },
    KafkaProperty { name: "sasl.login.refresh.window.factor", kind: KafkaType::Double, default: Some("0.8") },
    KafkaProperty { name: "sasl.login.refresh.window.jitter", kind: KafkaType::Double, default: Some("0.05") },
    KafkaProperty { name: "sasl.login.retry.backoff.max.ms", kind: KafkaType::Long, default: Some("10000") },
    KafkaProperty { name: "sasl.login.retry.backoff.ms", kind: KafkaType::Long, default: Some("100") },
    KafkaProperty { name: "sasl.mechanism.controller.protocol", kind: KafkaType::String, default: Some("GSSAPI") },
    KafkaProperty { name: "sasl.mechanism.inter.broker.protocol", kind: KafkaType::String, default: Some("GSSAPI") },
    KafkaProperty { name: "sasl.oauthbearer.clock.skew.seconds", kind: KafkaType::Int, default: Some("30") },
    KafkaProperty { name: "sasl.oauthbearer.expected.audience", kind: KafkaType::List, default: None },
    KafkaProperty { name: "sasl.oauthbearer.expected.issuer", kind: KafkaType::String, default: None },
    KafkaProperty { name: "sasl.oauthbearer.jwks.endpoint.refresh.ms", kind: KafkaType::Long, default: Some("3600000") },
    KafkaProperty { name: "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", kind: KafkaType::Long, default: Some("10000") },
    KafkaProperty { name: "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", kind: KafkaType::Long, default: Some("100") },
    KafkaProperty { name: "sasl.oauthbearer.jwks.endpoint.url", kind: KafkaType::String, default: None },
    KafkaProperty { name: "sasl.oauthbearer.scope.claim.name", kind: KafkaType::String, default: Some("scope") },
    KafkaProperty { name: "sasl.oauthbearer.sub.claim.name", kind: KafkaType::String, default: Some("sub") },
    KafkaProperty { name: "sasl.oauthbearer.token.endpoint.url", kind: KafkaType::String, default: None },
    KafkaProperty { name: "sasl.server.callback.handler.class", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "sasl.server.max.receive.size", kind: KafkaType::Int, default: Some("524288") },
    KafkaProperty { name: "security.inter.broker.protocol", kind: KafkaType::String, default: Some("PLAINTEXT") },
    KafkaProperty { name: "security.providers", kind: KafkaType::String, default: None },
    KafkaProperty { name: "share.coordinator.append.linger.ms", kind: KafkaType::Int, default: Some("10") },
    KafkaProperty { name: "share.coordinator.load.buffer.size", kind: KafkaType::Int, default: Some("5242880") },
    KafkaProperty { name: "share.coordinator.snapshot.update.records.per.snapshot", kind: KafkaType::Int, default: Some("500") },
    KafkaProperty { name: "share.coordinator.state.topic.compression.codec", kind: KafkaType::Int, default: Some("0") },
    KafkaProperty { name: "share.coordinator.state.topic.min.isr", kind: KafkaType::Short, default: Some("2") },
    KafkaProperty { name: "share.coordinator.state.topic.num.partitions", kind: KafkaType::Int, default: Some("50") },
    KafkaProperty { name: "share.coordinator.state.topic.replication.factor", kind: KafkaType::Short, default: Some("3") },
    KafkaProperty { name: "share.coordinator.state.topic.segment.bytes", kind: KafkaType::Int, default: Some("104857600") },
    KafkaProperty { name: "share.coordinator.threads", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "share.coordinator.write.timeout.ms", kind: KafkaType::Int, default: Some("5000") },
    KafkaProperty { name: "share.fetch.purgatory.purge.interval.requests", kind: KafkaType::Int, default: Some("1000") },
    KafkaProperty { name: "socket.connection.setup.timeout.max.ms", kind: KafkaType::Long, default: Some("30000") },
    KafkaProperty { name: "socket.connection.setup.timeout.ms", kind: KafkaType::Long, default: Some("10000") },
    KafkaProperty { name: "socket.listen.backlog.size", kind: KafkaType::Int, default: Some("50") },
    KafkaProperty { name: "socket.receive.buffer.bytes", kind: KafkaType::Int, default: Some("102400") },
    KafkaProperty { name: "socket.request.max.bytes", kind: KafkaType::Int, default: Some("104857600") },
    KafkaProperty { name: "socket.send.buffer.bytes", kind: KafkaType::Int, default: Some("102400") },
    KafkaProperty { name: "ssl.allow.dn.changes", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "ssl.allow.san.changes", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "ssl.cipher.suites", kind: KafkaType::List, default: Some("") },
    KafkaProperty { name: "ssl.client.auth", kind: KafkaType::String, default: Some("none") },
    KafkaProperty { name: "ssl.enabled.protocols", kind: KafkaType::List, default: Some("TLSv1.2,TLSv1.3") },
    KafkaProperty { name: "ssl.endpoint.identification.algorithm", kind: KafkaType::String, default: Some("https") },
    KafkaProperty { name: "ssl.engine.factory.class", kind: KafkaType::Class, default: None },
    KafkaProperty { name: "ssl.key.password", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "ssl.keymanager.algorithm", kind: KafkaType::String, default: Some("SunX509") },
    KafkaProperty { name: "ssl.keystore.certificate.chain", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "ssl.keystore.key", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "ssl.keystore.location", kind: KafkaType::String, default: None },
    KafkaProperty { name: "ssl.keystore.password", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "ssl.keystore.type", kind: KafkaType::String, default: Some("JKS") },
    KafkaProperty { name: "ssl.principal.mapping.rules", kind: KafkaType::String, default: Some("DEFAULT") },
    KafkaProperty { name: "ssl.protocol", kind: KafkaType::String, default: Some("TLSv1.3") },
    KafkaProperty { name: "ssl.provider", kind: KafkaType::String, default: None },
    KafkaProperty { name: "ssl.secure.random.implementation", kind: KafkaType::String, default: None },
    KafkaProperty { name: "ssl.trustmanager.algorithm", kind: KafkaType::String, default: Some("PKIX") },
    KafkaProperty { name: "ssl.truststore.certificates", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "ssl.truststore.location", kind: KafkaType::String, default: None },
    KafkaProperty { name: "ssl.truststore.password", kind: KafkaType::Password, default: None },
    KafkaProperty { name: "ssl.truststore.type", kind: KafkaType::String, default: Some("JKS") },
    KafkaProperty { name: "telemetry.max.bytes", kind: KafkaType::Int, default: Some("1048576") },
    KafkaProperty { name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", kind: KafkaType::Int, default: Some("10000") },
    KafkaProperty { name: "transaction.max.timeout.ms", kind: KafkaType::Int, default: Some("900000") },
    KafkaProperty { name: "transaction.partition.verification.enable", kind: KafkaType::Boolean, default: Some("true") },
    KafkaProperty { name: "transaction.remove.expired.transaction.cleanup.interval.ms", kind: KafkaType::Int, default: Some("3600000") },
    KafkaProperty { name: "transaction.state.log.load.buffer.size", kind: KafkaType::Int, default: Some("5242880") },
    KafkaProperty { name: "transaction.state.log.min.isr", kind: KafkaType::Int, default: Some("2") },
    KafkaProperty { name: "transaction.state.log.num.partitions", kind: KafkaType::Int, default: Some("50") },
    KafkaProperty { name: "transaction.state.log.replication.factor", kind: KafkaType::Short, default: Some("3") },
    KafkaProperty { name: "transaction.state.log.segment.bytes", kind: KafkaType::Int, default: Some("104857600") },
    KafkaProperty { name: "transactional.id.expiration.ms", kind: KafkaType::Int, default: Some("604800000") },
    KafkaProperty { name: "unclean.leader.election.enable", kind: KafkaType::Boolean, default: Some("false") },
];

/// Kafka 4.0's topic properties.
#[rustfmt::skip]
pub const KAFKA_TOPIC_PROPERTIES: &[KafkaProperty] = &[
    KafkaProperty { name: "cleanup.policy", kind: KafkaType::List, default: Some("delete") },
    KafkaProperty { name: "compression.gzip.level", kind: KafkaType::Int, default: Some("-1") },
    KafkaProperty { name: "compression.lz4.level", kind: KafkaType::Int, default: Some("9") },
    KafkaProperty { name: "compression.type", kind: KafkaType::String, default: Some("producer") },
    KafkaProperty { name: "compression.zstd.level", kind: KafkaType::Int, default: Some("3") },
    KafkaProperty { name: "delete.retention.ms", kind: KafkaType::Long, default: Some("86400000") },
    KafkaProperty { name: "file.delete.delay.ms", kind: KafkaType::Long, default: Some("60000") },
    KafkaProperty { name: "flush.messages", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "flush.ms", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "follower.replication.throttled.replicas", kind: KafkaType::List, default: Some("") },
    KafkaProperty { name: "index.interval.bytes", kind: KafkaType::Int, default: Some("4096") },
    KafkaProperty { name: "leader.replication.throttled.replicas", kind: KafkaType::List, default: Some("") },
    KafkaProperty { name: "local.retention.bytes", kind: KafkaType::Long, default: Some("-2") },
    KafkaProperty { name: "local.retention.ms", kind: KafkaType::Long, default: Some("-2") },
    KafkaProperty { name: "max.compaction.lag.ms", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "max.message.bytes", kind: KafkaType::Int, default: Some("1048588") },
    KafkaProperty { name: "message.timestamp.after.max.ms", kind: KafkaType::Long, default: Some("3600000") },
    KafkaProperty { name: "message.timestamp.before.max.ms", kind: KafkaType::Long, default: Some("9223372036854775807") },
    KafkaProperty { name: "message.timestamp.type", kind: KafkaType::String, default: Some("CreateTime") },
    KafkaProperty { name: "min.cleanable.dirty.ratio", kind: KafkaType::Double, default: Some("0.5") },
    KafkaProperty { name: "min.compaction.lag.ms", kind: KafkaType::Long, default: Some("0") },
    KafkaProperty { name: "min.insync.replicas", kind: KafkaType::Int, default: Some("1") },
    KafkaProperty { name: "preallocate", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "remote.log.copy.disable", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "remote.log.delete.on.disable", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "remote.storage.enable", kind: KafkaType::Boolean, default: Some("false") },
    KafkaProperty { name: "retention.bytes", kind: KafkaType::Long, default: Some("-1") },
    KafkaProperty { name: "retention.ms", kind: KafkaType::Long, default: Some("604800000") },
    KafkaProperty { name: "segment.bytes", kind: KafkaType::Int, default: Some("1073741824") },
    KafkaProperty { name: "segment.index.bytes", kind: KafkaType::Int, default: Some("10485760") },
    KafkaProperty { name: "segment.jitter.ms", kind: KafkaType::Long, default: Some("0") },
    KafkaProperty { name: "segment.ms", kind: KafkaType::Long, default: Some("604800000") },
    KafkaProperty { name: "unclean.leader.election.enable", kind: KafkaType::Boolean, default: Some("false") },
];

/// What Skein does with a Kafka property that `config::PROPERTIES` does not
/// implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaSupport {
    /// Accepted and ignored, for the reason given: Skein does not need it.
    NoEffect(&'static str),
    /// The feature it configures is not in Skein: accepted only at Kafka's
    /// default (the feature off), refused otherwise, for the reason given,
    /// since accepting it would mislead.
    OnlyDefault(&'static str),
    /// Refused whatever its value, for the reason given.
    Refused(&'static str),
}

const NO_ZOOKEEPER: &str =
    "Skein has no ZooKeeper: its metadata lives in its own Raft quorum, as in KRaft";
const NO_SECURITY: &str =
    "Skein does not implement this security setting: its TLS, SASL (PLAIN, SCRAM) and ACL settings are the ones in its own table (docs/configuration.md)";
const NO_TIERED_STORAGE: &str = "Skein has no tiered storage";
const THREAD_PER_CORE: &str =
    "Skein runs one thread per core, each serving its own connections and partitions; --cores picks the cores";
const METRICS: &str = "Skein exposes its metrics in Prometheus format at /metrics (--admin-listen), not through JMX reporters";
const SINGLE_NODE: &str =
    "Skein does not use this replication, controller or election tuning: the cluster settings it implements are in its own table (docs/configuration.md)";
const NO_TRANSACTIONS: &str =
    "Skein's transaction coordinator does not use this setting (partition verification and the load buffer are not tunable)";
const NO_NEW_GROUPS: &str =
    "Skein serves classic and consumer (KIP-848) groups but not share groups, online migration of classic members into consumer groups, or this tuning";
const NO_QUOTAS: &str = "Skein does not throttle clients yet";
const NOT_NEEDED: &str = "Skein does not implement this Kafka setting; it is accepted so that Kafka configurations start";

/// How Skein treats Kafka property `name` (one of [`KAFKA_BROKER_PROPERTIES`]
/// or [`KAFKA_TOPIC_PROPERTIES`] not implemented in `config::PROPERTIES`, or
/// a ZooKeeper property of Kafka 3).
pub fn kafka_support(name: &str) -> KafkaSupport {
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| name.starts_with(p));
    if starts(&["zookeeper."]) {
        return KafkaSupport::Refused(NO_ZOOKEEPER);
    }
    if starts(&[
        "ssl.",
        "sasl.",
        "security.",
        "listener.name.",
        "delegation.token.",
        "principal.",
        "authorizer.",
        "super.users",
        "connections.max.reauth.ms",
        "allow.everyone.if.no.acl.found",
    ]) {
        return KafkaSupport::OnlyDefault(NO_SECURITY);
    }
    if starts(&["remote.", "log.local.", "local.retention."]) {
        return KafkaSupport::OnlyDefault(NO_TIERED_STORAGE);
    }
    if name.ends_with(".threads") || starts(&["background.threads", "num.replica.alter.log.dirs"]) {
        return KafkaSupport::NoEffect(THREAD_PER_CORE);
    }
    if starts(&[
        "metric",
        "metrics.",
        "kafka.metrics.",
        "auto.include.jmx.reporter",
        "telemetry.",
    ]) {
        return KafkaSupport::NoEffect(METRICS);
    }
    if starts(&["transaction", "add.partitions.to.txn.", "transactional."]) {
        return KafkaSupport::NoEffect(NO_TRANSACTIONS);
    }
    if starts(&[
        "group.consumer.",
        "group.share.",
        "share.",
        "group.coordinator.",
    ]) {
        return KafkaSupport::NoEffect(NO_NEW_GROUPS);
    }
    if name.contains("quota") {
        return KafkaSupport::NoEffect(NO_QUOTAS);
    }
    if starts(&[
        "replica.",
        "num.replica.",
        "leader.",
        "follower.",
        "controller.",
        "metadata.",
        "broker.",
        "initial.broker.registration.",
        "election.",
        "min.insync.replicas",
        "reserved.broker.max.id",
        "eligible.leader.replicas.",
        "node.id",
        "process.roles",
        "early.start.listeners",
    ]) {
        return KafkaSupport::NoEffect(SINGLE_NODE);
    }
    KafkaSupport::NoEffect(NOT_NEEDED)
}

/// Kafka's broker property `name`, if Kafka 4.0 has one.
pub fn kafka_broker_property(name: &str) -> Option<&'static KafkaProperty> {
    KAFKA_BROKER_PROPERTIES
        .binary_search_by(|p| p.name.cmp(name))
        .ok()
        .map(|i| &KAFKA_BROKER_PROPERTIES[i])
}

/// Kafka's topic property `name`, if Kafka 4.0 has one.
pub fn kafka_topic_property(name: &str) -> Option<&'static KafkaProperty> {
    KAFKA_TOPIC_PROPERTIES
        .binary_search_by(|p| p.name.cmp(name))
        .ok()
        .map(|i| &KAFKA_TOPIC_PROPERTIES[i])
}

/// Checks `value` against Kafka's type `kind` (numbers and booleans parse;
/// any text is a string, list, class or password).
///
/// # Errors
/// A reason, for a value Kafka would not accept either.
pub fn check_kafka_value(kind: KafkaType, value: &str) -> Result<(), String> {
    let value = value.trim();
    let ok = match kind {
        KafkaType::Boolean => {
            value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false")
        }
        KafkaType::Int => value.parse::<i32>().is_ok(),
        KafkaType::Long => value.parse::<i64>().is_ok(),
        KafkaType::Short => value.parse::<i16>().is_ok(),
        KafkaType::Double => value.parse::<f64>().is_ok_and(f64::is_finite),
        KafkaType::String | KafkaType::List | KafkaType::Class | KafkaType::Password => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("not a valid {kind:?}").to_lowercase())
    }
}

/// Up to three known names closest to `name` (by edit distance, at most a
/// third of its length), for "did you mean" hints: `candidates` are every
/// name Skein knows.
pub fn closest_names<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = (name.len() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// Levenshtein distance over bytes (property names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_are_sorted_unique_and_hold_kafkas_well_known_defaults() {
        for table in [KAFKA_BROKER_PROPERTIES, KAFKA_TOPIC_PROPERTIES] {
            assert!(table.windows(2).all(|w| w[0].name < w[1].name));
        }
        assert!(KAFKA_BROKER_PROPERTIES.len() > 250);
        assert!(KAFKA_TOPIC_PROPERTIES.len() > 30);
        let default = |name| kafka_broker_property(name).and_then(|p| p.default);
        assert_eq!(default("log.retention.hours"), Some("168"));
        assert_eq!(default("num.partitions"), Some("1"));
        assert_eq!(default("message.max.bytes"), Some("1048588"));
        assert_eq!(default("offsets.topic.replication.factor"), Some("3"));
        assert_eq!(
            kafka_topic_property("cleanup.policy").map(|p| p.kind),
            Some(KafkaType::List)
        );
    }

    #[test]
    fn classes_follow_what_the_feature_is() {
        assert!(matches!(
            kafka_support("zookeeper.connect"),
            KafkaSupport::Refused(_)
        ));
        assert!(matches!(
            kafka_support("ssl.keystore.location"),
            KafkaSupport::OnlyDefault(_)
        ));
        assert!(matches!(
            kafka_support("remote.log.storage.system.enable"),
            KafkaSupport::OnlyDefault(_)
        ));
        assert_eq!(
            kafka_support("num.network.threads"),
            KafkaSupport::NoEffect(THREAD_PER_CORE)
        );
        assert_eq!(
            kafka_support("replica.socket.timeout.ms"),
            KafkaSupport::NoEffect(SINGLE_NODE)
        );
    }

    #[test]
    fn values_are_checked_against_kafkas_type() {
        assert!(check_kafka_value(KafkaType::Int, "8").is_ok());
        assert!(check_kafka_value(KafkaType::Int, "eight").is_err());
        assert!(check_kafka_value(KafkaType::Short, "40000").is_err());
        assert!(check_kafka_value(KafkaType::Boolean, "TRUE").is_ok());
        assert!(check_kafka_value(KafkaType::Double, "NaN").is_err());
        assert!(check_kafka_value(KafkaType::Class, "org.example.X").is_ok());
    }

    #[test]
    fn a_misspelt_name_gets_the_closest_known_names() {
        let names = ["num.partitions", "num.io.threads", "log.retention.hours"];
        assert_eq!(
            closest_names("num.partition", names.into_iter()),
            ["num.partitions"]
        );
        assert_eq!(
            closest_names("log.retention.hour", names.into_iter()),
            ["log.retention.hours"]
        );
        assert!(closest_names("completely.different", names.into_iter()).is_empty());
    }
}
