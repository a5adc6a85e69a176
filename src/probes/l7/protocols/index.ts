export { pgsqlParser } from "./pgsql.ts";
