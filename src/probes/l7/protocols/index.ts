export { kafkaParser } from "./kafka.ts";
export { dnsParser } from "./dns.ts";
