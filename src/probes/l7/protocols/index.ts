export { http2Parser } from "./http2.ts";
export { mongoParser } from "./mongo.ts";
