// kafkajs over SASL_PLAINTEXT (or SASL_SSL when KAFKAJS_TLS_CA names a PEM
// CA file) against a running skein broker.
//
// Usage: node kafkajs_sasl.mjs <plain|scram-sha-256|scram-sha-512> <bootstrap> <topic>
//                              <user> <password> <ok|fail>
//
// ok:   log in, produce 5 messages `kafkajs-<mechanism>-<i>` to partition 0
//       (checking each acknowledged offset follows the previous one).
// fail: connecting must fail with kafkajs' SASL authentication error; prints
//       its type and message.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel, Partitioners } from 'kafkajs';

const [mechanism, bootstrap, topic, username, password, expect] = process.argv.slice(2);
const kafka = new Kafka({
  clientId: 'skein-e2e-kafkajs-sasl',
  brokers: [bootstrap],
  logLevel: logLevel.NOTHING,
  connectionTimeout: 10000,
  requestTimeout: 20000,
  retry: { retries: 1, initialRetryTime: 200 },
  sasl: { mechanism, username, password },
  ssl: process.env.KAFKAJS_TLS_CA
    ? { ca: [readFileSync(process.env.KAFKAJS_TLS_CA, 'utf8')], rejectUnauthorized: true }
    : undefined,
});
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });

if (expect === 'fail') {
  try {
    await producer.connect();
  } catch (error) {
    console.log(`${error.name}: ${error.message} ${error.type ?? ''}`);
    assert.match(error.name, /KafkaJSSASLAuthenticationError|KafkaJSNonRetriableError/);
    console.log('kafkajs sasl fail ok');
    process.exit(0);
  }
  console.error('login with a wrong password succeeded');
  process.exit(1);
}

await producer.connect();
let last = null;
for (let i = 0; i < 5; i++) {
  const [meta] = await producer.send({
    topic,
    acks: -1,
    messages: [{ partition: 0, value: `kafkajs-${mechanism}-${i}` }],
  });
  assert.equal(meta.errorCode, 0);
  const offset = Number(meta.baseOffset);
  if (last !== null) assert.equal(offset, last + 1);
  last = offset;
}
await producer.disconnect();
console.log('kafkajs sasl ok');
