// A MongoDB client for the l7 mongo parser's recorded fixtures (record.sh): commands of
// each kind against a real server (FerretDB), some failing, one unacknowledged write. It
// prints its own tally, from the driver's command, heartbeat and pool monitors: commands per
// name with failures, and the handshakes and heartbeats the driver made.
//
//	go run . <host:port>
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

type count struct {
	Count  int `json:"count"`
	Failed int `json:"failed"`
}

type tally struct {
	mu         sync.Mutex
	Commands   map[string]*count `json:"commands"`
	Handshakes int               `json:"handshakes"`
	Heartbeats int               `json:"heartbeats"`
}

func (t *tally) command(name string, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.Commands[name]
	if c == nil {
		c = &count{}
		t.Commands[name] = c
	}
	c.Count++
	if failed {
		c.Failed++
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) != 2 {
		must(errors.New("usage: mongo-client <host:port>"))
	}
	t := &tally{Commands: map[string]*count{}}
	cmdMon := &event.CommandMonitor{
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) { t.command(e.CommandName, false) },
		Failed:    func(_ context.Context, e *event.CommandFailedEvent) { t.command(e.CommandName, true) },
	}
	srvMon := &event.ServerMonitor{
		ServerHeartbeatSucceeded: func(*event.ServerHeartbeatSucceededEvent) { t.mu.Lock(); t.Heartbeats++; t.mu.Unlock() },
		ServerHeartbeatFailed:    func(*event.ServerHeartbeatFailedEvent) { t.mu.Lock(); t.Heartbeats++; t.mu.Unlock() },
	}
	poolMon := &event.PoolMonitor{Event: func(e *event.PoolEvent) {
		if e.Type == event.ConnectionReady {
			t.mu.Lock()
			t.Handshakes++
			t.mu.Unlock()
		}
	}}
	opts := options.Client().ApplyURI("mongodb://" + os.Args[1] + "/?directConnection=true&heartbeatFrequencyMS=60000&maxPoolSize=1").
		SetMonitor(cmdMon).SetServerMonitor(srvMon).SetPoolMonitor(poolMon)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client, err := mongo.Connect(opts)
	must(err)
	db := client.Database("l7test")
	coll := db.Collection("items")
	_ = coll.Drop(ctx)

	var docs []any
	for i := 0; i < 50; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i}, {Key: "pad", Value: fmt.Sprintf("%0200d", i)}})
	}
	_, err = coll.InsertMany(ctx, docs)
	must(err)
	for i := 0; i < 5; i++ {
		var out bson.M
		must(coll.FindOne(ctx, bson.D{{Key: "_id", Value: i}}).Decode(&out))
	}
	// A cursor of 50 documents in batches of 10: find + getMore.
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(10))
	must(err)
	var all []bson.M
	must(cur.All(ctx, &all))
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 100}}}})
	must(err)
	_, err = coll.CountDocuments(ctx, bson.D{})
	must(err)
	_, err = coll.DeleteMany(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$gt", Value: 40}}}})
	must(err)
	// Failing: a duplicate _id (ok: 1 with writeErrors), an unknown operator and an unknown
	// command (ok: 0).
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}})
	if err == nil {
		must(errors.New("duplicate insert succeeded"))
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "n", Value: bson.D{{Key: "$nosuchop", Value: 1}}}}).Err(); err == nil || errors.Is(err, mongo.ErrNoDocuments) {
		must(fmt.Errorf("unknown operator: %v", err))
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "noSuchCommand", Value: 1}}).Err(); err == nil {
		must(errors.New("unknown command succeeded"))
	}
	must(db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err())
	// Unacknowledged (w: 0): OP_MSG with moreToCome, no reply.
	unack := db.Collection("items", options.Collection().SetWriteConcern(writeconcern.Unacknowledged()))
	_, err = unack.InsertOne(ctx, bson.D{{Key: "_id", Value: 1000}})
	must(err)
	must(db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err())
	must(client.Disconnect(ctx))

	out, err := json.MarshalIndent(t, "", "  ")
	must(err)
	fmt.Println(string(out))
}
