// Idempotent-producer mode of sarama_e2e: Debian's sarama 1.22.1 has
// Producer.Idempotent (InitProducerId v0 without a transactional id, then
// producer id, epoch and per-partition sequence numbers in every batch).
//
// Usage: sarama_e2e idempotent <bootstrap host:port> <topic> <partitions>
//
// The topic must exist with <partitions> partitions and be empty. An
// AsyncProducer (Idempotent, acks=all, Net.MaxOpenRequests=1, retries on,
// at most 25 messages a request, so each partition gets several batches) sends
// idempotentPerPartition messages to every partition, all queued at once.
// Every success must come back at offset == its index in that partition
// (the order sent, dense from 0), with no error. Then a plain Consumer reads
// every partition from OffsetOldest and checks offset, key and value of each
// message and that nothing follows. On success it prints one line
// "sarama idempotent ok: N messages" and exits 0.
package main

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/Shopify/sarama"
)

// idempotentPerPartition is how many messages each partition gets.
const idempotentPerPartition = 200

func idempotentKey(partition int32, i int) []byte {
	return []byte(fmt.Sprintf("idem-key-%d-%d", partition, i))
}

func idempotentValue(partition int32, i int) []byte {
	return []byte(fmt.Sprintf("idem-value-%d-%d-\x00\xff", partition, i))
}

func idempotentConfig() *sarama.Config {
	c := config()
	c.Producer.Idempotent = true
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Net.MaxOpenRequests = 1
	// Several batches per partition, so sequences advance batch by batch.
	c.Producer.Flush.Messages = 25
	c.Producer.Flush.MaxMessages = 25
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	return c
}

func idempotentMain(args []string) {
	if len(args) != 3 {
		fail("usage: sarama_e2e idempotent <bootstrap> <topic> <partitions>")
	}
	bootstrap := []string{args[0]}
	topic := args[1]
	partitions, err := strconv.Atoi(args[2])
	if err != nil || partitions < 1 {
		fail("bad partition count %q", args[2])
	}

	producer, err := sarama.NewAsyncProducer(bootstrap, idempotentConfig())
	if err != nil {
		fail("NewAsyncProducer (idempotent): %v", err)
	}
	total := partitions * idempotentPerPartition
	go func() {
		for i := 0; i < idempotentPerPartition; i++ {
			for p := int32(0); p < int32(partitions); p++ {
				producer.Input() <- &sarama.ProducerMessage{
					Topic:     topic,
					Partition: p,
					Key:       sarama.ByteEncoder(idempotentKey(p, i)),
					Value:     sarama.ByteEncoder(idempotentValue(p, i)),
					Metadata:  i,
				}
			}
		}
	}()
	// offsets[p][i] is the offset message i of partition p was written at.
	offsets := make([]map[int]int64, partitions)
	for p := range offsets {
		offsets[p] = make(map[int]int64)
	}
	deadline := time.After(60 * time.Second)
	for acked := 0; acked < total; acked++ {
		select {
		case m := <-producer.Successes():
			i := m.Metadata.(int)
			if _, dup := offsets[m.Partition][i]; dup {
				fail("partition %d message %d acknowledged twice", m.Partition, i)
			}
			offsets[m.Partition][i] = m.Offset
		case perr := <-producer.Errors():
			fail("idempotent send to partition %d failed: %v", perr.Msg.Partition, perr.Err)
		case <-deadline:
			fail("timed out after %d of %d acknowledgements", acked, total)
		}
	}
	if err := producer.Close(); err != nil {
		fail("idempotent producer Close: %v", err)
	}
	for p := int32(0); p < int32(partitions); p++ {
		for i := 0; i < idempotentPerPartition; i++ {
			if got := offsets[p][i]; got != int64(i) {
				fail("partition %d message %d acknowledged at offset %d, want %d", p, i, got, i)
			}
		}
	}

	consumer, err := sarama.NewConsumer(bootstrap, config())
	if err != nil {
		fail("NewConsumer: %v", err)
	}
	read := 0
	for p := int32(0); p < int32(partitions); p++ {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			fail("ConsumePartition %d: %v", p, err)
		}
		for i := 0; i < idempotentPerPartition; i++ {
			select {
			case m := <-pc.Messages():
				if m.Offset != int64(i) {
					fail("partition %d: message %d at offset %d", p, i, m.Offset)
				}
				if !bytes.Equal(m.Key, idempotentKey(p, i)) || !bytes.Equal(m.Value, idempotentValue(p, i)) {
					fail("partition %d offset %d: key %q value %q", p, m.Offset, m.Key, m.Value)
				}
				read++
			case cerr := <-pc.Errors():
				fail("partition %d consume error: %v", p, cerr)
			case <-time.After(15 * time.Second):
				fail("partition %d: timed out waiting for message %d", p, i)
			}
		}
		select {
		case m := <-pc.Messages():
			fail("partition %d: unexpected extra message at offset %d", p, m.Offset)
		case <-time.After(300 * time.Millisecond):
		}
		if hwm := pc.HighWaterMarkOffset(); hwm != idempotentPerPartition {
			fail("partition %d: high watermark %d, want %d", p, hwm, idempotentPerPartition)
		}
		if err := pc.Close(); err != nil {
			fail("partition %d consumer Close: %v", p, err)
		}
	}
	if err := consumer.Close(); err != nil {
		fail("consumer Close: %v", err)
	}
	fmt.Printf("sarama idempotent ok: %d messages\n", read)
}
