CREATE TABLE items (id int PRIMARY KEY, name text);
INSERT INTO items VALUES (1, 'one');
INSERT INTO items VALUES (2, 'two');
INSERT INTO items VALUES (1, 'duplicate');
SELECT * FROM items ORDER BY id;
SELEC 1;
SELECT 1 / 0;
SELECT * FROM missing_table;
UPDATE items SET name = 'uno' WHERE id = 1;
DELETE FROM items WHERE id = 2;
SELECT repeat('x', 100000) AS big;
SELECT g, md5(g::text) FROM generate_series(1, 5000) AS g;
COPY items FROM STDIN;
3	three
4	four
\.
COPY items TO STDOUT;
DO $$ BEGIN RAISE NOTICE 'a notice is not an error'; END $$;
BEGIN;
SELECT 1 / 0;
SELECT 1;
ROLLBACK;
SET statement_timeout = 50;
SELECT pg_sleep(1);
RESET statement_timeout;
INSERT INTO items SELECT g, repeat('y', 300) FROM generate_series(100, 2000) AS g;
WITH t AS (SELECT count(*) AS n FROM items) SELECT n FROM t;
DROP TABLE items;
