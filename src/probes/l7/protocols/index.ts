export { mysqlParser } from "./mysql.ts";
export { pgsqlParser } from "./pgsql.ts";
