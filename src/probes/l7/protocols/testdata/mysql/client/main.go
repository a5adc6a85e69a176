// A binary-protocol MariaDB/MySQL client for recording the mysql parser's fixtures: it runs a
// fixed list of operations through go-sql-driver/mysql — parameterised statements (which the
// driver sends as COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE), plain queries
// (COM_QUERY, with multi-statements), COM_PING, failing statements — on one
// connection, and prints as JSON what it sent: requests per command and errors by SQLSTATE
// class as the parser's contract defines them (COM_QUIT at the end included).
//
//	go run . 'user:pass@tcp(127.0.0.1:port)/test?multiStatements=true'
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/go-sql-driver/mysql"
)

type tally struct {
	Requests     int            `json:"requests"`
	NoResponse   int            `json:"noResponse"`
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
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) && isClientClass(string(myErr.SQLState[:2])) {
		t.ClientErrors++
	} else {
		t.ServerErrors++
	}
}

func (t *tally) noResponse(api string) {
	t.count(api, nil)
	t.NoResponse++
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
	db, err := sql.Open("mysql", os.Args[1])
	must(err)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	conn, err := db.Conn(ctx) // the handshake; no command yet
	must(err)
	t := &tally{Apis: map[string]int{}}

	// A parameterised statement: COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE.
	stmt := func(verb, query string, args ...any) error {
		ps, err := conn.PrepareContext(ctx, query)
		t.count("COM_STMT_PREPARE", err)
		if err != nil {
			return err
		}
		_, err = ps.ExecContext(ctx, args...)
		t.count(verb, err)
		must(ps.Close())
		t.noResponse("COM_STMT_CLOSE")
		return err
	}
	query := func(verb, q string) {
		_, err := conn.ExecContext(ctx, q)
		t.count(verb, err)
	}

	query("DROP", "DROP TABLE IF EXISTS bin_items")
	query("CREATE", "CREATE TABLE bin_items (id INT PRIMARY KEY, name VARCHAR(64), payload TEXT)")
	for i := 1; i <= 20; i++ {
		must(stmt("INSERT", "INSERT INTO bin_items VALUES (?, ?, ?)", i, fmt.Sprint("item ", i), "small"))
	}
	_ = stmt("INSERT", "INSERT INTO bin_items VALUES (?, ?, ?)", 1, "duplicate", "") // 23000 at execute
	_ = stmt("SELECT", "SELECT * FROM no_such_table WHERE id = ?", 1)                // 42S02 at prepare
	_ = stmt("SELEC", "SELEC ?", 1)                                                  // 42000 at prepare
	query("SIGNAL", "SIGNAL SQLSTATE 'HY000' SET MESSAGE_TEXT = 'a server-side failure'")

	// A prepared statement kept open and executed several times, with result sets.
	ps, err := conn.PrepareContext(ctx, "SELECT id, name, payload FROM bin_items WHERE id <= ? ORDER BY id")
	must(err)
	t.count("COM_STMT_PREPARE", nil)
	for i := 1; i <= 10; i++ {
		rows, err := ps.QueryContext(ctx, i*2)
		must(err)
		for rows.Next() {
		}
		must(rows.Err())
		must(rows.Close())
		t.count("SELECT", nil)
	}
	must(ps.Close())
	t.noResponse("COM_STMT_CLOSE")

	// Text protocol: a big result, multi-statements (SERVER_MORE_RESULTS_EXISTS), errors.
	must(stmt("UPDATE", "UPDATE bin_items SET payload = REPEAT('z', ?) WHERE id <= ?", 3000, 15))
	rows, err := conn.QueryContext(ctx, "SELECT id, payload FROM bin_items")
	must(err)
	for rows.Next() {
	}
	must(rows.Close())
	t.count("SELECT", nil)
	query("SELECT", "SELECT 1; SELECT 2; UPDATE bin_items SET name = 'x' WHERE id = 3")
	query("SELEC", "SELEC 1")                                   // 42000
	query("INSERT", "INSERT INTO bin_items VALUES (2, 'dup', '')") // 23000
	must(conn.PingContext(ctx))
	t.count("COM_PING", nil)
	query("DROP", "DROP TABLE bin_items")
	must(conn.Close())
	must(db.Close()) // COM_QUIT
	t.noResponse("COM_QUIT")
	out, _ := json.Marshal(t)
	fmt.Println(string(out))
}
