// Consumer-group mode of sarama_e2e: one member of a sarama ConsumerGroup
// (Debian's sarama 1.22.1 has ConsumerGroup; it speaks FindCoordinator v0,
// JoinGroup v1, SyncGroup v0, Heartbeat v0, LeaveGroup v0, OffsetFetch v1).
//
// Usage: sarama_e2e group [--commit-v1] <bootstrap host:port> <group> <topic> <member name>
//
// Commits: sarama 1.22.1 sends OffsetCommit v1 while
// Consumer.Offsets.Retention is 0 (its default) and v2 otherwise. Kafka 4
// dropped v0-v1; Skein serves them again, and the tests cover both: by
// default this member sets Retention to -1ms (OffsetCommit v2 with
// retention_time -1, "the broker's retention", what a v1 commit means too);
// --commit-v1 keeps sarama's default (v1).
//
// The member consumes <topic> in <group> from the committed offsets (or the
// oldest offset where nothing is committed), marks every message it reads
// with MarkMessage, and lets sarama commit (every second, and at the end of
// every session: on a rebalance and on shutdown). It runs until its stdin
// reaches end of file or it gets SIGTERM/SIGINT; then it ends the session
// (final commit), closes the group (LeaveGroup) and exits 0.
//
// It reports on stdout, one JSON object per line, in the order things
// happen:
//
//	{"event":"setup","member":NAME,"member_id":ID,"generation":G,"claims":[P...]}
//	{"event":"message","member":NAME,"generation":G,"partition":P,"offset":O,"key":B64,"value":B64}
//	{"event":"cleanup","member":NAME,"generation":G}
//	{"event":"error","member":NAME,"error":TEXT}     (sarama's Errors() channel)
//	{"event":"closed","member":NAME}                 (after Close(): the member has left)
//
// A Consume() or Close() that returns an error is reported as an error event
// and the program exits 1.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/Shopify/sarama"
)

type groupEvent struct {
	Event      string  `json:"event"`
	Member     string  `json:"member"`
	MemberID   string  `json:"member_id,omitempty"`
	Generation int32   `json:"generation,omitempty"`
	Claims     []int32 `json:"claims"`
	Partition  int32   `json:"partition"`
	Offset     int64   `json:"offset"`
	Key        []byte  `json:"key,omitempty"`
	Value      []byte  `json:"value,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// reporter writes events as JSON lines; ConsumeClaim runs in one goroutine
// per partition, so writes are serialized.
type reporter struct {
	mu     sync.Mutex
	enc    *json.Encoder
	member string
}

func (r *reporter) emit(e groupEvent) {
	e.Member = r.member
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.enc.Encode(&e); err != nil {
		fail("writing event: %v", err)
	}
}

type groupHandler struct {
	topic string
	out   *reporter
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	claims := append([]int32{}, sess.Claims()[h.topic]...)
	sort.Slice(claims, func(i, j int) bool { return claims[i] < claims[j] })
	h.out.emit(groupEvent{Event: "setup", MemberID: sess.MemberID(), Generation: sess.GenerationID(), Claims: claims})
	return nil
}

func (h *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.out.emit(groupEvent{Event: "cleanup", Generation: sess.GenerationID()})
	return nil
}

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.out.emit(groupEvent{
			Event: "message", Generation: sess.GenerationID(), Partition: m.Partition,
			Offset: m.Offset, Key: m.Key, Value: m.Value,
		})
		sess.MarkMessage(m, "")
	}
	return nil
}

func groupConfig(member string, commitV1 bool) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V2_1_0_0
	c.ClientID = "skein-e2e-sarama-" + member
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	if !commitV1 {
		c.Consumer.Offsets.Retention = -time.Millisecond
	}
	// Fast rebalances: a member learns of one from its next heartbeat, and
	// a JoinGroup answered REBALANCE_IN_PROGRESS is retried after the backoff.
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 200 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	c.Consumer.Group.Rebalance.Retry.Max = 20
	c.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	c.Metadata.Retry.Max = 5
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	applySecurity(c)
	return c
}

func groupMain(args []string) {
	commitV1 := len(args) > 0 && args[0] == "--commit-v1"
	if commitV1 {
		args = args[1:]
	}
	if len(args) != 4 {
		fail("usage: sarama_e2e group [--commit-v1] <bootstrap> <group> <topic> <member name>")
	}
	bootstrap, groupID, topic, member := args[0], args[1], args[2], args[3]
	out := &reporter{enc: json.NewEncoder(os.Stdout), member: member}

	group, err := sarama.NewConsumerGroup([]string{bootstrap}, groupID, groupConfig(member, commitV1))
	if err != nil {
		fail("NewConsumerGroup: %v", err)
	}
	errorsDone := make(chan struct{})
	go func() {
		defer close(errorsDone)
		for err := range group.Errors() {
			out.emit(groupEvent{Event: "error", Error: err.Error()})
		}
	}()

	// Stop on end of stdin (the test closes it) or on a signal.
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		cancel()
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		cancel()
	}()

	handler := &groupHandler{topic: topic, out: out}
	for ctx.Err() == nil {
		// Consume returns at the end of every session (a rebalance or
		// ctx cancelled), after the session's final commit.
		if err := group.Consume(ctx, []string{topic}, handler); err != nil {
			out.emit(groupEvent{Event: "error", Error: "Consume: " + err.Error()})
			_ = group.Close()
			os.Exit(1)
		}
	}
	if err := group.Close(); err != nil {
		out.emit(groupEvent{Event: "error", Error: "Close: " + err.Error()})
		os.Exit(1)
	}
	<-errorsDone
	out.emit(groupEvent{Event: "closed"})
}
