export { kafkaParser } from "./kafka.ts";
