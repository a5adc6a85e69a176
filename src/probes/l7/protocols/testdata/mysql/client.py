"""A classic-protocol MariaDB/MySQL client for recording the mysql parser's fixtures:
mysql-connector-python in pure-Python mode (no CLIENT_DEPRECATE_EOF: EOF packets after
definitions and rows) driving the less common commands directly — COM_STMT_RESET (before
every prepared execute), COM_STMT_SEND_LONG_DATA, COM_STMT_EXECUTE with a read-only cursor
and COM_STMT_FETCH, COM_STATISTICS, COM_INIT_DB, COM_PING, COM_RESET_CONNECTION,
COM_CHANGE_USER (an authentication exchange inside a command), LOAD DATA LOCAL
INFILE — and printing as JSON what it sent: requests per command, errors by SQLSTATE class
as the parser's contract defines them.

    python client.py <port> <local infile path>
"""
import io
import json
import sys

import mysql.connector
from mysql.connector import errors

port, infile = int(sys.argv[1]), sys.argv[2]
CLIENT_CLASSES = {"21", "22", "23", "25", "26", "28", "3D", "3F", "42", "44"}
tally = {"requests": 0, "noResponse": 0, "clientErrors": 0, "serverErrors": 0, "apis": {}}


def count(api, err=None, no_response=False):
    tally["requests"] += 1
    tally["apis"][api] = tally["apis"].get(api, 0) + 1
    if no_response:
        tally["noResponse"] += 1
    if err is not None:
        state = getattr(err, "sqlstate", None) or "HY000"
        tally["clientErrors" if state[:2] in CLIENT_CLASSES else "serverErrors"] += 1


cnx = mysql.connector.connect(host="127.0.0.1", port=port, user="app", password="app-password", database="test",
                              use_pure=True, allow_local_infile=True, autocommit=True)


def session_setup():
    """The connector sets up every new session with two queries: SET NAMES … and SET
    @@session.autocommit (after the login, COM_RESET_CONNECTION and COM_CHANGE_USER)."""
    count("SET")
    count("SET")


def cursor(**kwargs):
    """cnx.cursor() first checks the connection with a COM_PING."""
    count("COM_PING")
    return cnx.cursor(**kwargs)


session_setup()


def query(api, sql):
    try:
        cur = cursor()
        cur.execute(sql)
        if cur.with_rows:
            cur.fetchall()
        cur.close()
        count(api)
    except errors.Error as err:
        count(api, err)


query("DROP", "DROP TABLE IF EXISTS py_items")
query("CREATE", "CREATE TABLE py_items (id INT PRIMARY KEY, name VARCHAR(64), body BLOB)")

# A prepared cursor: the first execute prepares; every execute resets the statement first.
cur = cursor(prepared=True)
for i in range(1, 6):
    cur.execute("INSERT INTO py_items VALUES (?, ?, ?)", (i, f"item {i}", b"x"))
    if i == 1:
        count("COM_STMT_PREPARE")
    count("COM_STMT_RESET")
    count("INSERT")
# A file-like parameter goes as COM_STMT_SEND_LONG_DATA before the execute.
cur.execute("INSERT INTO py_items VALUES (?, ?, ?)", (6, "long", io.BytesIO(b"y" * 50000)))
count("COM_STMT_RESET")
count("COM_STMT_SEND_LONG_DATA", no_response=True)
count("INSERT")
try:
    cur.execute("INSERT INTO py_items VALUES (?, ?, ?)", (1, "duplicate", b""))
except errors.Error as err:
    count("COM_STMT_RESET")
    count("INSERT", err)
cur.close()  # COM_STMT_CLOSE
count("COM_STMT_CLOSE", no_response=True)

# COM_STMT_EXECUTE opening a read-only cursor, rows fetched 2 at a time with COM_STMT_FETCH.
stmt = cnx.cmd_stmt_prepare(b"SELECT id, name FROM py_items ORDER BY id")
count("COM_STMT_PREPARE")
cnx.cmd_stmt_execute(stmt["statement_id"], data=(), parameters=stmt["parameters"], flags=1)
count("SELECT")
for _ in range(4):
    cnx.cmd_stmt_fetch(stmt["statement_id"], 2)
    count("COM_STMT_FETCH")
    cnx.get_rows(binary=True, columns=stmt["columns"])
cnx.cmd_stmt_close(stmt["statement_id"])
count("COM_STMT_CLOSE", no_response=True)

query("LOAD", f"LOAD DATA LOCAL INFILE '{infile}' INTO TABLE py_items FIELDS TERMINATED BY ','")
query("SELECT", "SELECT * FROM py_items ORDER BY id")
query("SELEC", "SELEC 1")
cnx.cmd_statistics()
count("COM_STATISTICS")
cnx.cmd_init_db("mysql")
count("COM_INIT_DB")
try:
    cnx.cmd_init_db("no_such_database")
except errors.Error as err:
    count("COM_INIT_DB", err)
cnx.cmd_ping()
count("COM_PING")
cnx.cmd_reset_connection()
count("COM_RESET_CONNECTION")
session_setup()
cnx.cmd_change_user(username="other", password="other-password", database="test")
count("COM_CHANGE_USER")
session_setup()
query("SELECT", "SELECT CURRENT_USER()")
query("DROP", "DROP TABLE py_items")
cnx.close()  # COM_QUIT
count("COM_QUIT", no_response=True)
print(json.dumps(tally))
