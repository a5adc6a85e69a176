package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
)

// Codes the l7 probe counts as the client's errors (mongo.ts); any other failure is the server's.
var mongoClientCodes = map[int32]bool{2: true, 9: true, 11: true, 13: true, 14: true, 18: true, 26: true, 27: true, 40: true, 48: true, 59: true, 66: true, 72: true, 11000: true}

// commandWatch tallies, from the driver's command monitor, every command with the latency
// between its started and its finished event, classed by the reply the server sent: "ok" 0
// (the failed event, or a succeeded event whose reply still says ok 0: the driver ignores
// some failures, as endSessions') by its code.
type commandWatch struct {
	t       *tally
	mu      sync.Mutex
	started map[int64]time.Time
}

func (w *commandWatch) start(_ context.Context, e *event.CommandStartedEvent) {
	w.mu.Lock()
	w.started[e.RequestID] = time.Now()
	w.mu.Unlock()
}

func (w *commandWatch) begun(id int64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	s, ok := w.started[id]
	if !ok {
		must(fmt.Errorf("no started event for request %d", id))
	}
	delete(w.started, id)
	return s
}

func codeClass(code int32) errClass {
	if mongoClientCodes[code] {
		return clientErr
	}
	return serverErr
}

func (w *commandWatch) succeeded(_ context.Context, e *event.CommandSucceededEvent) {
	class := noErr
	if ok, err := e.Reply.LookupErr("ok"); err == nil {
		if v, isNum := ok.AsFloat64OK(); isNum && v == 0 {
			code, _ := e.Reply.Lookup("code").AsInt64OK()
			class = codeClass(int32(code))
		}
	}
	w.t.add(e.CommandName, class, w.begun(e.RequestID))
}

func (w *commandWatch) failed(_ context.Context, e *event.CommandFailedEvent) {
	// The driver's error of a reply with "ok" 0 (it carries the reply's code).
	var de driver.Error
	if !errors.As(e.Failure, &de) {
		must(fmt.Errorf("%s failed without a server reply: %v", e.CommandName, e.Failure))
	}
	w.t.add(e.CommandName, codeClass(de.Code), w.begun(e.RequestID))
}

// mongoClient runs, over one pooled connection (plus the driver's monitoring connection),
// n each of: insert, find by _id, ping; and failing ones: a duplicate _id (ok 1 with
// writeErrors: a success on the wire, as the driver reports it), a find with an unknown
// operator and an unknown command (ok 0, client errors) and an aggregation stage the
// server does not implement (ok 0, a server error). The driver's handshakes and heartbeats (legacy
// isMaster, not seen by the command monitor) are tallied: handshakes as connections,
// heartbeats under "extra", with the client's elapsed time.
func mongoClient(addr string, n int) {
	begun := time.Now()
	t := newTally()
	monitored := make(chan struct{})
	var firstHeartbeat sync.Once
	w := &commandWatch{t: t, started: map[int64]time.Time{}}
	opts := options.Client().ApplyURI("mongodb://" + addr + "/?directConnection=true&heartbeatFrequencyMS=60000&maxPoolSize=1").
		SetMonitor(&event.CommandMonitor{Started: w.start, Succeeded: w.succeeded, Failed: w.failed}).
		SetServerMonitor(&event.ServerMonitor{
			ServerHeartbeatSucceeded: func(*event.ServerHeartbeatSucceededEvent) {
				t.extra("heartbeats")
				firstHeartbeat.Do(func() { close(monitored) })
			},
			ServerHeartbeatFailed:    func(*event.ServerHeartbeatFailedEvent) { t.extra("heartbeats") },
		}).
		SetPoolMonitor(&event.PoolMonitor{Event: func(e *event.PoolEvent) {
			if e.Type == event.ConnectionReady {
				t.connected()
			}
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	client, err := mongo.Connect(opts)
	must(err)
	// Commands wait for the monitor's first heartbeat: a command that found no server known
	// yet would ask for an immediate second one, sent as "hello" when the first reply allowed
	// it, and the handshakes counted under isMaster would not be all of them.
	select {
	case <-monitored:
	case <-ctx.Done():
		must(errors.New("no heartbeat from the server"))
	}
	db := client.Database("l7e2e")
	coll := db.Collection("things")
	for i := 0; i < n; i++ {
		_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: fmt.Sprintf("thing %d", i)}})
		must(err)
	}
	for i := 0; i < n; i++ {
		var out bson.M
		must(coll.FindOne(ctx, bson.D{{Key: "_id", Value: i}}).Decode(&out))
		must(db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err())
	}
	for i := 0; i < n/5+1; i++ {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: i}}); !mongo.IsDuplicateKeyError(err) {
			must(fmt.Errorf("duplicate insert: %v", err))
		}
		if err := coll.FindOne(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$nosuchop", Value: 1}}}}).Err(); err == nil || errors.Is(err, mongo.ErrNoDocuments) {
			must(fmt.Errorf("unknown operator: %v", err))
		}
		if err := db.RunCommand(ctx, bson.D{{Key: "noSuchCommand", Value: 1}}).Err(); err == nil {
			must(errors.New("unknown command succeeded"))
		}
		// FerretDB answers NotImplemented (238): a server-class error.
		graph := bson.A{bson.D{{Key: "$graphLookup", Value: bson.D{}}}}
		if _, err := coll.Aggregate(ctx, graph); err == nil {
			must(errors.New("$graphLookup succeeded"))
		}
	}
	must(coll.Drop(ctx))
	must(client.Disconnect(ctx))
	// The handshakes' and heartbeats' own latencies are not measured: they are within this.
	t.Extra["elapsed_ns"] = int(time.Since(begun).Nanoseconds())
	t.print()
}
