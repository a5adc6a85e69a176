// An extended-protocol PostgreSQL client for recording the pgsql parser's fixtures: it runs
// a fixed list of operations through pgx (Parse/Bind/Describe/Execute/Sync, a named prepared
// statement, pipeline mode with an error in the middle) and prints, as JSON, what it did
// in protocol terms: how many requests (one per Execute, one per Sync segment without an
// Execute) and how many failed, by SQLSTATE class as the parser's contract defines it.
//
//	go run . 'postgres://user:pass@127.0.0.1:port/postgres?sslmode=disable'
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

type tally struct {
	Requests     int            `json:"requests"`
	ClientErrors int            `json:"clientErrors"`
	ServerErrors int            `json:"serverErrors"`
	Apis         map[string]int `json:"apis"`
}

func (t *tally) count(api string, err error) {
	t.Requests++
	t.Apis[api]++
	if err == nil {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && isClientClass(pgErr.Code[:2]) {
		t.ClientErrors++
	} else {
		t.ServerErrors++
	}
}

// The SQLSTATE classes the parser blames on the client (sql-verb.ts sqlStateClass).
func isClientClass(c string) bool {
	switch c {
	case "21", "22", "23", "25", "26", "28", "3D", "3F", "42", "44":
		return true
	}
	return false
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(os.Args[1])
	must(err)
	// One round trip per statement: Parse, Bind, Describe, Execute, Sync.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	must(err)
	t := &tally{Apis: map[string]int{}}

	_, err = conn.Exec(ctx, "DROP TABLE IF EXISTS ext_items", pgx.QueryExecModeExec)
	t.count("DROP", err)
	_, err = conn.Exec(ctx, "CREATE TABLE ext_items (id int PRIMARY KEY, name text)", pgx.QueryExecModeExec)
	t.count("CREATE", err)
	for i := 1; i <= 20; i++ {
		_, err = conn.Exec(ctx, "INSERT INTO ext_items VALUES ($1, $2)", i, fmt.Sprint("item ", i))
		t.count("INSERT", err)
	}
	_, err = conn.Exec(ctx, "INSERT INTO ext_items VALUES ($1, $2)", 1, "duplicate") // 23505
	t.count("INSERT", err)
	_, err = conn.Exec(ctx, "SELECT 1 / $1::int", 0) // 22012 at Execute
	t.count("SELECT", err)
	_, err = conn.Exec(ctx, "SELECT * FROM no_such_table WHERE id = $1", 1) // 42P01 at Parse
	t.count("SELECT", err)
	for i := 1; i <= 10; i++ {
		var name string
		err = conn.QueryRow(ctx, "SELECT name FROM ext_items WHERE id = $1", i).Scan(&name)
		t.count("SELECT", err)
	}
	// A named prepared statement: Parse + Describe + Sync is a request of its own ("PREPARE").
	_, err = conn.Prepare(ctx, "upd", "UPDATE ext_items SET name = $2 WHERE id = $1")
	t.count("PREPARE", err)
	for i := 1; i <= 5; i++ {
		_, err = conn.Exec(ctx, "upd", i, "renamed")
		t.count("UPDATE", err)
	}

	// Pipeline mode: three queries and a Sync, the second failing (the third is then skipped
	// by the server and reported aborted), then two more queries and a Sync.
	pipeline := conn.PgConn().StartPipeline(ctx)
	pipeline.SendQueryParams("SELECT count(*) FROM ext_items", nil, nil, nil, nil)
	pipeline.SendQueryParams("SELECT 1 / 0", nil, nil, nil, nil)
	pipeline.SendQueryParams("DELETE FROM ext_items WHERE id = 20", nil, nil, nil, nil)
	pipeline.SendPipelineSync()
	pipeline.SendQueryParams("DELETE FROM ext_items WHERE id = 19", nil, nil, nil, nil)
	pipeline.SendQueryParams("SELECT name FROM ext_items ORDER BY id", nil, nil, nil, nil)
	pipeline.SendPipelineSync()
	must(pipeline.Flush())
	segments := [][]string{{"SELECT", "SELECT", "DELETE"}, {"DELETE", "SELECT"}}
	for _, apis := range segments {
		var segmentErr error
		for i := 0; i <= len(apis); i++ {
			res, err := pipeline.GetResults()
			if _, ok := res.(*pgconn.PipelineSync); ok {
				// pgx drops the queries the server skipped after the segment's error; libpq
				// reports them aborted: they failed with the error that aborted the segment.
				for ; i < len(apis); i++ {
					t.count(apis[i], segmentErr)
				}
				break
			}
			if i == len(apis) {
				must(fmt.Errorf("expected a pipeline sync, got %T %v", res, err))
			}
			if rr, ok := res.(*pgconn.ResultReader); ok && err == nil {
				_, err = rr.Close()
			}
			if err != nil && segmentErr == nil {
				segmentErr = err
			}
			t.count(apis[i], err)
		}
	}
	must(pipeline.Close())
	must(conn.Close(ctx))
	out, _ := json.Marshal(t)
	fmt.Println(string(out))
}
