// kafkajs end-to-end checks against a running skein broker.
//
// Usage: node kafkajs_e2e.mjs <mode> <bootstrap host:port> <topic> <out.json> [transactional id]
//
// Modes:
//   produce        admin createTopics (3 partitions) + fetchTopicMetadata,
//                  producer.send of keyed messages with headers and explicit
//                  partitions and timestamps (checking every returned
//                  baseOffset), admin fetchTopicOffsets (low 0, high = count
//                  per partition), an admin createTopics/deleteTopics
//                  round trip on a second topic, and a third created and
//                  grown with manual replica assignments (two refusals
//                  checked too). Writes the messages it sent
//                  to <out.json> so the pytest wrapper can read them back
//                  with another client, byte for byte.
//   group-consume  kafkajs consumers only exist as group members: join a
//                  fresh group, subscribe fromBeginning and read back exactly
//                  what `produce` wrote (offsets, keys, values, headers,
//                  timestamps). Needs consumer-group support in the broker.
//   transactions   a transactional producer (the fifth argument is its
//                  transactional.id) runs four transactions on the existing
//                  3-partition <topic>, round r sending "r<r>-<i>" for i in
//                  0..8 to partition i % 3 in one send(); rounds 0 and 2
//                  commit, 1 and 3 abort. Writes {"committed": [...],
//                  "aborted": [...]} (round numbers) to <out.json>; the
//                  pytest wrapper checks what read_committed and
//                  read_uncommitted consumers see.
//   rolling-produce  an idempotent acks=all producer (its own client: all of
//                  <bootstrap>'s comma-separated brokers as seeds, retries
//                  long enough to outlast a node's restart) sends "kjs-<n>"
//                  one record at a time to partition n % 6 of the existing
//                  <topic> until the file <out.json>.stop appears, while the
//                  pytest wrapper restarts the nodes one by one. Writes
//                  {"acked": [[value, partition, offset], ...], "failed":
//                  [[value, error], ...]} to <out.json>.
//
// TLS from the environment: KAFKAJS_TLS_CA (PEM CA file) connects over
// SSL; KAFKAJS_TLS_CERT and KAFKAJS_TLS_KEY add a client certificate.
//
// Exits 0 on success; any failed assertion exits non-zero with a message.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const [mode, bootstrap, topic, outPath, transactionalId] = process.argv.slice(2);
if (!mode || !bootstrap || !topic || !outPath) {
  console.error('usage: kafkajs_e2e.mjs <produce|group-consume|transactions|rolling-produce> <bootstrap> <topic> <out.json> [transactional id]');
  process.exit(2);
}

const PARTITIONS = 3;
const PER_PARTITION = 5;
const BASE_TS = 1700000000000;

function tlsFromEnv() {
  const { KAFKAJS_TLS_CA: ca, KAFKAJS_TLS_CERT: cert, KAFKAJS_TLS_KEY: key } = process.env;
  if (!ca) return undefined;
  const tls = { ca: [readFileSync(ca, 'utf8')], rejectUnauthorized: true };
  if (cert) {
    tls.cert = readFileSync(cert, 'utf8');
    tls.key = readFileSync(key, 'utf8');
  }
  return tls;
}

const kafka = new Kafka({
  clientId: 'skein-e2e-kafkajs',
  brokers: [bootstrap],
  ssl: tlsFromEnv(),
  logLevel: logLevel.ERROR,
  connectionTimeout: 10000,
  requestTimeout: 20000,
  retry: { retries: 3, initialRetryTime: 200 },
});

// The messages of partition p, index i. Values include non-UTF-8 bytes.
function messageFor(p, i) {
  return {
    partition: p,
    key: `kafkajs-key-${p}-${i}`,
    value: Buffer.concat([Buffer.from(`kafkajs-value-${p}-${i}-`), Buffer.from([0, 255, i])]),
    headers: { 'h-partition': String(p), 'h-index': String(i), 'h-empty': '' },
    timestamp: String(BASE_TS + p * 100000 + i * 1000),
  };
}

function allMessages() {
  const out = [];
  for (let i = 0; i < PER_PARTITION; i++) {
    for (let p = 0; p < PARTITIONS; p++) out.push(messageFor(p, i));
  }
  return out;
}

async function produce() {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }],
      waitForLeaders: true,
    });
    assert.equal(created, true, 'createTopics should report the topic as created');

    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    assert.equal(md.topics.length, 1);
    assert.equal(md.topics[0].name, topic);
    const parts = md.topics[0].partitions.map((p) => p.partitionId).sort((a, b) => a - b);
    assert.deepEqual(parts, [0, 1, 2]);
    for (const p of md.topics[0].partitions) {
      assert.equal(p.partitionErrorCode, 0);
      assert.ok(p.leader >= 0, `partition ${p.partitionId} has no leader`);
      assert.deepEqual(p.replicas, [p.leader]);
      assert.deepEqual(p.isr, [p.leader]);
    }

    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
    await producer.connect();
    const messages = allMessages();
    // One send per round so each returned baseOffset is checkable.
    for (let i = 0; i < PER_PARTITION; i++) {
      const round = messages.filter((m) => m.headers['h-index'] === String(i));
      const result = await producer.send({ topic, acks: -1, messages: round });
      const got = result.map((r) => [r.topicName, r.partition, r.errorCode, r.baseOffset])
        .sort((a, b) => a[1] - b[1]);
      const want = [0, 1, 2].map((p) => [topic, p, 0, String(i)]);
      assert.deepEqual(got, want, `send round ${i}`);
    }
    await producer.disconnect();

    const offsets = await admin.fetchTopicOffsets(topic);
    const summary = offsets.map((o) => [o.partition, o.low, o.high, o.offset]).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(summary, [0, 1, 2].map((p) => [p, '0', String(PER_PARTITION), String(PER_PARTITION)]));

    // Admin round trip on a second topic.
    const other = `${topic}-admin`;
    assert.equal(await admin.createTopics({ topics: [{ topic: other, numPartitions: 2 }], waitForLeaders: true }), true);
    assert.equal(await admin.createTopics({ topics: [{ topic: other, numPartitions: 2 }] }), false,
      'creating an existing topic should resolve false');
    assert.ok((await admin.listTopics()).includes(other));
    await admin.deleteTopics({ topics: [other], timeout: 10000 });
    const deadline = Date.now() + 20000;
    while ((await admin.listTopics()).includes(other)) {
      assert.ok(Date.now() < deadline, `${other} still listed after deleteTopics`);
      await new Promise((r) => setTimeout(r, 100));
    }

    // Manual replica assignments (kafka-topics --replica-assignment): the
    // one broker here is the only possible replica, named as listed.
    const node = md.topics[0].partitions[0].leader;
    const placed = `${topic}-placed`;
    assert.equal(await admin.createTopics({
      topics: [{ topic: placed, replicaAssignment: [{ partition: 1, replicas: [node] }, { partition: 0, replicas: [node] }] }],
      waitForLeaders: true,
    }), true);
    await admin.createPartitions({ topicPartitions: [{ topic: placed, count: 3, assignments: [[node]] }] });
    const placedMd = await admin.fetchTopicMetadata({ topics: [placed] });
    const placement = placedMd.topics[0].partitions.map((p) => [p.partitionId, p.replicas, p.leader])
      .sort((a, b) => a[0] - b[0]);
    assert.deepEqual(placement, [0, 1, 2].map((p) => [p, [node], node]));
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: `${topic}-twice`, replicaAssignment: [{ partition: 0, replicas: [node, node] }] }] }),
      (error) => error.errors?.[0]?.type === 'INVALID_REPLICA_ASSIGNMENT',
      'a broker named twice in one replica list is INVALID_REPLICA_ASSIGNMENT',
    );
    await assert.rejects(
      admin.createPartitions({ topicPartitions: [{ topic: placed, count: 5, assignments: [[node]] }] }),
      (error) => error.type === 'INVALID_REPLICA_ASSIGNMENT' || error.errors?.[0]?.type === 'INVALID_REPLICA_ASSIGNMENT',
      'one list for two added partitions is INVALID_REPLICA_ASSIGNMENT',
    );
    assert.ok(!(await admin.listTopics()).includes(`${topic}-twice`));

    writeFileSync(outPath, JSON.stringify(messages.map((m) => ({
      partition: m.partition,
      key: m.key,
      value_hex: m.value.toString('hex'),
      headers: Object.entries(m.headers),
      timestamp: Number(m.timestamp),
    }))));
  } finally {
    await admin.disconnect();
  }
}

async function groupConsume() {
  const sent = JSON.parse(readFileSync(outPath, 'utf8'));
  const consumer = kafka.consumer({ groupId: `skein-e2e-${topic}`, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  const seen = [];
  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ partition, message }) => {
      seen.push({
        partition,
        offset: Number(message.offset),
        key: message.key.toString(),
        value_hex: message.value.toString('hex'),
        headers: Object.entries(message.headers).map(([k, v]) => [k, v.toString()]),
        timestamp: Number(message.timestamp),
      });
      if (seen.length >= sent.length) resolveDone();
    },
  });
  const timer = setTimeout(() => resolveDone(), 30000);
  await done;
  clearTimeout(timer);
  await consumer.disconnect();

  const key = (m) => `${m.partition}/${m.offset}`;
  seen.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  const want = sent
    .map((m) => ({ ...m, offset: Number(m.headers.find(([k]) => k === 'h-index')[1]) }))
    .sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  assert.deepEqual(seen.map(key), want.map(key), 'offsets read by the group consumer');
  assert.deepEqual(seen, want.map((m) => ({
    partition: m.partition, offset: m.offset, key: m.key, value_hex: m.value_hex,
    headers: m.headers, timestamp: m.timestamp,
  })));
}

async function transactions() {
  assert.ok(transactionalId, 'transactions mode needs a transactional id');
  const producer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const report = { committed: [], aborted: [] };
  try {
    for (let round = 0; round < 4; round++) {
      const txn = await producer.transaction();
      const messages = [];
      for (let i = 0; i < 9; i++) {
        messages.push({ partition: i % PARTITIONS, key: 'k', value: `r${round}-${i}` });
      }
      const results = await txn.send({ topic, acks: -1, messages });
      for (const r of results) assert.equal(r.errorCode, 0, `send in round ${round}: ${JSON.stringify(r)}`);
      if (round % 2 === 0) {
        await txn.commit();
        report.committed.push(round);
      } else {
        await txn.abort();
        report.aborted.push(round);
      }
    }
  } finally {
    await producer.disconnect();
  }
  writeFileSync(outPath, JSON.stringify(report));
}

async function rollingProduce() {
  const client = new Kafka({
    clientId: 'skein-e2e-kafkajs-rolling',
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 20000,
  });
  const producer = client.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: 40, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  await producer.connect();
  const report = { acked: [], failed: [] };
  try {
    for (let n = 0; !existsSync(`${outPath}.stop`); n++) {
      const value = `kjs-${n}`;
      const partition = n % 6;
      try {
        const [result] = await producer.send({ topic, acks: -1, messages: [{ partition, key: value, value }] });
        assert.equal(result.errorCode, 0, JSON.stringify(result));
        report.acked.push([value, result.partition, Number(result.baseOffset)]);
      } catch (error) {
        report.failed.push([value, `${error.name}: ${error.message}`]);
      }
    }
  } finally {
    await producer.disconnect();
  }
  writeFileSync(outPath, JSON.stringify(report));
}

try {
  if (mode === 'produce') await produce();
  else if (mode === 'rolling-produce') await rollingProduce();
  else if (mode === 'transactions') await transactions();
  else if (mode === 'group-consume') await groupConsume();
  else throw new Error(`unknown mode ${mode}`);
  console.log(`kafkajs ${mode} ok`);
  process.exit(0);
} catch (err) {
  console.error(`kafkajs ${mode} FAIL:`, err);
  process.exit(1);
}
