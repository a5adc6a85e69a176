CREATE DATABASE IF NOT EXISTS shop;
use shop
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(64));
INSERT INTO items VALUES (1, 'one'), (2, 'two');
INSERT INTO items VALUES (1, 'duplicate');
SELECT * FROM items ORDER BY id;
SELEC 1;
SELECT * FROM missing_table;
SELECT REPEAT('x', 100000) AS big;
SELECT seq, MD5(seq) FROM seq_1_to_5000;
PREPARE s FROM 'SELECT ? + 1';
SET @a = 41;
EXECUTE s USING @a;
DEALLOCATE PREPARE s;
UPDATE items SET name = 'uno' WHERE id = 1;
DELETE FROM items WHERE id = 2;
SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a server-side failure';
BEGIN;
INSERT INTO items VALUES (3, 'three');
COMMIT;
use no_such_database
/* a comment first */ SELECT COUNT(*) FROM items;
DROP DATABASE shop;
