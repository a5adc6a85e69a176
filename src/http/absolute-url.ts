// HTTP/1.0 clients may send no Host header; Bun then hands the handler a bare path as
// `request.url` ("/metrics"), which Hono cannot route (every such request got 404). The
// request is rebuilt with an absolute URL on "localhost" so it gets the normal answer.
import type { Hono } from "hono";

const ABSOLUTE_URL = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//;

export function withAbsoluteUrl(req: Request): Request {
  if (ABSOLUTE_URL.test(req.url)) return req;
  const path = req.url.startsWith("/") ? req.url : `/${req.url}`;
  return new Request(`http://localhost${path}`, req);
}

/** Makes `app.fetch` accept requests without a Host header. */
export function acceptMissingHost<T extends Hono>(app: T): T {
  const dispatch = app.fetch;
  app.fetch = (req: Request, ...rest: unknown[]) => (dispatch as (r: Request, ...a: unknown[]) => Response | Promise<Response>)(withAbsoluteUrl(req), ...rest);
  return app;
}
