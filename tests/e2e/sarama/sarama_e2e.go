// sarama_e2e drives a Skein broker with the sarama Go client (the Debian
// golang-github-shopify-sarama-dev package, built in GOPATH mode) and exits
// non-zero on the first mismatch.
//
// Usage: sarama_e2e <bootstrap host:port> <topic> <partitions>
//
//	sarama_e2e group ...       a ConsumerGroup member, see group.go
//	sarama_e2e idempotent ...  an idempotent producer, see idempotent.go
//
// TLS and SASL come from the environment, see security.go.
//
// The topic must already exist with <partitions> partitions and be empty.
// The program sends 6 keyed messages with headers and explicit timestamps to
// every partition through a SyncProducer (manual partitioner, acks=all),
// checks the offset each send returns (dense from 0 per partition), then
// reads every partition back with a plain Consumer from OffsetOldest and
// checks offset, key, value, headers and timestamp of every message.
// On success it prints one line "sarama ok: N messages" and exits 0.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

const perPartition = 6

// baseTimestamp is a fixed millisecond timestamp (2023-11-14T22:13:20Z) so
// that the broker must return exactly what the producer set.
const baseTimestampMs = 1700000000000

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama FAIL: "+format+"\n", args...)
	os.Exit(1)
}

type expected struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte
	headers   []sarama.RecordHeader
	timestamp time.Time
}

func messageFor(partition int32, i int) expected {
	return expected{
		partition: partition,
		offset:    int64(i),
		key:       []byte(fmt.Sprintf("sarama-key-%d-%d", partition, i)),
		value:     []byte(fmt.Sprintf("sarama-value-%d-%d-\x00\xff-binary", partition, i)),
		headers: []sarama.RecordHeader{
			{Key: []byte("h-partition"), Value: []byte(strconv.Itoa(int(partition)))},
			{Key: []byte("h-index"), Value: []byte(strconv.Itoa(i))},
			{Key: []byte("h-empty"), Value: []byte{}},
		},
		timestamp: time.Unix(0, (baseTimestampMs+int64(partition)*100000+int64(i)*1000)*int64(time.Millisecond)),
	}
}

func config() *sarama.Config {
	c := sarama.NewConfig()
	// V2_1_0_0 makes sarama use v2 record batches (headers, timestamps):
	// Produce v3, Fetch v4, Metadata v5, ListOffsets v1.
	c.Version = sarama.V2_1_0_0
	c.ClientID = "skein-e2e-sarama"
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Retry.Max = 0
	c.Consumer.Return.Errors = true
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	applySecurity(c)
	return c
}

func headersEqual(got []*sarama.RecordHeader, want []sarama.RecordHeader) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) {
			return false
		}
	}
	return true
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "group" {
		groupMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "idempotent" {
		idempotentMain(os.Args[2:])
		return
	}
	if len(os.Args) != 4 {
		fail("usage: sarama_e2e <bootstrap> <topic> <partitions>")
	}
	bootstrap := []string{os.Args[1]}
	topic := os.Args[2]
	partitions, err := strconv.Atoi(os.Args[3])
	if err != nil || partitions < 1 {
		fail("bad partition count %q", os.Args[3])
	}

	producer, err := sarama.NewSyncProducer(bootstrap, config())
	if err != nil {
		fail("NewSyncProducer: %v", err)
	}
	for i := 0; i < perPartition; i++ {
		for p := int32(0); p < int32(partitions); p++ {
			e := messageFor(p, i)
			msg := &sarama.ProducerMessage{
				Topic:     topic,
				Partition: p,
				Key:       sarama.ByteEncoder(e.key),
				Value:     sarama.ByteEncoder(e.value),
				Headers:   e.headers,
				Timestamp: e.timestamp,
			}
			gotPartition, gotOffset, err := producer.SendMessage(msg)
			if err != nil {
				fail("SendMessage partition %d index %d: %v", p, i, err)
			}
			if gotPartition != p || gotOffset != e.offset {
				fail("SendMessage returned partition %d offset %d, want partition %d offset %d",
					gotPartition, gotOffset, p, e.offset)
			}
		}
	}
	if err := producer.Close(); err != nil {
		fail("producer Close: %v", err)
	}

	consumer, err := sarama.NewConsumer(bootstrap, config())
	if err != nil {
		fail("NewConsumer: %v", err)
	}
	total := 0
	for p := int32(0); p < int32(partitions); p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("ConsumePartition %d: %v", p, err)
		}
		for i := 0; i < perPartition; i++ {
			e := messageFor(p, i)
			select {
			case m := <-pc.Messages():
				if m.Topic != topic || m.Partition != p || m.Offset != e.offset {
					fail("partition %d message %d: got %s/%d@%d", p, i, m.Topic, m.Partition, m.Offset)
				}
				if !bytes.Equal(m.Key, e.key) {
					fail("partition %d offset %d: key %q, want %q", p, m.Offset, m.Key, e.key)
				}
				if !bytes.Equal(m.Value, e.value) {
					fail("partition %d offset %d: value %q, want %q", p, m.Offset, m.Value, e.value)
				}
				if !headersEqual(m.Headers, e.headers) {
					fail("partition %d offset %d: headers %v, want %v", p, m.Offset, m.Headers, e.headers)
				}
				if !m.Timestamp.Equal(e.timestamp) {
					fail("partition %d offset %d: timestamp %v, want %v", p, m.Offset, m.Timestamp, e.timestamp)
				}
				total++
			case cerr := <-pc.Errors():
				fail("partition %d consume error: %v", p, cerr)
			case <-time.After(15 * time.Second):
				fail("partition %d: timed out waiting for message %d", p, i)
			}
		}
		// Nothing beyond what was produced may show up.
		select {
		case m := <-pc.Messages():
			fail("partition %d: unexpected extra message at offset %d", p, m.Offset)
		case <-time.After(300 * time.Millisecond):
		}
		if hwm := pc.HighWaterMarkOffset(); hwm != perPartition {
			fail("partition %d: high watermark %d, want %d", p, hwm, perPartition)
		}
		if err := pc.Close(); err != nil {
			fail("partition %d consumer Close: %v", p, err)
		}
	}
	if err := consumer.Close(); err != nil {
		fail("consumer Close: %v", err)
	}
	fmt.Printf("sarama ok: %d messages\n", total)
}
