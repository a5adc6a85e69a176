// The l7 protocol parsers of this build: one line per parser module,
//   export { httpParser } from "./http.ts";
// each exporting one ProtocolParser (src/probes/l7/protocol.ts). The probe takes every
// export of this module (`import * as`), so adding a parser is adding its line.
export { httpParser } from "./http.ts";
export { redisParser } from "./redis.ts";
export { kafkaParser } from "./kafka.ts";
export { dnsParser } from "./dns.ts";
export { http2Parser } from "./http2.ts";
export { mongoParser } from "./mongo.ts";
export { mysqlParser } from "./mysql.ts";
export { pgsqlParser } from "./pgsql.ts";
