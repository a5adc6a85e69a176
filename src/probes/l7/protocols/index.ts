export { http2Parser } from "./http2.ts";
