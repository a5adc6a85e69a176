export { httpParser } from "./http.ts";
