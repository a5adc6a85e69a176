export { httpParser } from "./http.ts";
export { redisParser } from "./redis.ts";
