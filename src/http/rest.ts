// The probe REST API (rest_api_server, default 127.0.0.1:9999): GET and PUT per feature,
// POST for the legacy form, 405 with an Allow header for anything else (DECISIONS.md).
import { Hono } from "hono";
import { decodePutBody, translateLegacy } from "../probe/body.ts";
import { envelope } from "../probe/request.ts";
import { acceptMissingHost } from "./absolute-url.ts";
import type { ProbeManager } from "../probe/manager.ts";

/** Upstream matches at most 63 characters of the path, not percent-decoded. */
export function featureFromPath(rawUrl: string): string {
  const start = rawUrl.indexOf("/", rawUrl.indexOf("//") + 2);
  let path = start < 0 ? "/" : rawUrl.slice(start);
  const q = path.search(/[?#]/);
  if (q >= 0) path = path.slice(0, q);
  return path.slice(1, 64);
}

const JSON_HEADERS = { "Content-Type": "application/json" };

export function restApp(manager: ProbeManager): Hono {
  const app = new Hono();
  app.all("*", async (c) => {
    const method = c.req.method;
    const name = featureFromPath(c.req.url);
    if (method === "GET") {
      const r = manager.get(name);
      return c.body(r.body, r.status as 200, JSON_HEADERS);
    }
    if (method !== "PUT" && method !== "POST") {
      return c.body(envelope(false, `method ${method.slice(0, 16)} not allowed; use GET, PUT or POST`), 405, {
        ...JSON_HEADERS,
        Allow: "GET, PUT, POST",
      });
    }
    if (name === "") return c.body(envelope(false, "url not found"), 404, JSON_HEADERS);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await c.req.arrayBuffer());
    } catch {
      return c.body(envelope(false, "could not read request body"), 400, JSON_HEADERS);
    }
    const decoded = decodePutBody(bytes);
    if (!decoded.ok) return c.body(envelope(false, decoded.message), 400, JSON_HEADERS);
    const doc = method === "POST" ? translateLegacy(decoded.doc) : decoded.doc;
    const r = await manager.put(name, doc);
    return c.body(r.body, r.status as 200, JSON_HEADERS);
  });
  app.onError((err, c) => c.body(envelope(false, `internal error: ${err.message}`), 400, JSON_HEADERS));
  return acceptMissingHost(app);
}
