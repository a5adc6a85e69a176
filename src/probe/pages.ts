// Pages a probe serves on the metrics port (beyond upstream: the flamegraph viewer):
// GET /<feature> and /<feature>/<rest>, answered by the handler the probe's run registered
// through ctx.servePage() while it lives. One handler per feature; the latest registration
// wins (a reopened run replaces the old one; the old handle's dispose then does nothing).

export type PageHandler = (subpath: string, query: URLSearchParams) => Response | Promise<Response>;

export class PageRoutes {
  private readonly handlers = new Map<string, PageHandler>();

  /** Serves /<feature>[/...] with `handler` until the returned handle is disposed. */
  serve(feature: string, handler: PageHandler): Disposable {
    this.handlers.set(feature, handler);
    return {
      [Symbol.dispose]: () => {
        if (this.handlers.get(feature) === handler) this.handlers.delete(feature);
      },
    };
  }

  /** The response of a registered page for this URL, or undefined (not a page: 404 elsewhere). */
  handle(url: URL): Response | Promise<Response> | undefined {
    const m = /^\/([a-z0-9_]+)(\/.*)?$/.exec(url.pathname);
    const handler = m ? this.handlers.get(m[1]!) : undefined;
    return handler?.(m![2] ?? "", url.searchParams);
  }
}
