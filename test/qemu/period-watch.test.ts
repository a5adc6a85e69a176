// PeriodWatch files each scrape under the probe's collection (its collect-duration gauge),
// so a total split into equal halves over two periods still sums exactly.
import { expect, test } from "bun:test";
import { PeriodWatch, WatchTimeoutError } from "./period-watch.ts";

const LINE = /^gala_gopher_t_v\{[^}]*tgid="(?<key>\d+)"[^}]*\} (?<value>\S+)$/gm;
const body = (mark: string, rows: [number, number][]) =>
  [`gala_gopher_agent_probe_collect_duration_seconds{probe="p"} ${mark}`, ...rows.map(([t, v]) => `gala_gopher_t_v{tgid="${t}",comm="x"} ${v}`)].join("\n");

/** Serves `bodies` one per scrape, then repeats the last. */
function scripted(bodies: (string | undefined)[]) {
  let i = 0;
  return async () => bodies[Math.min(i++, bodies.length - 1)];
}

test("equal values in consecutive collections are two periods; repeated scrapes of one are one", async () => {
  const w = new PeriodWatch(
    scripted([body("0.1", []), body("0.1", []), body("0.2", [[7, 8]]), body("0.2", [[7, 8]]), undefined, body("0.3", [[7, 8], [9, 1]]), body("0.4", [[7, 0], [9, 0]])]),
    "p",
    LINE,
  );
  await w.waitCollections(3, 10_000);
  const runs = await w.stop();
  expect(runs.get("7")).toEqual([8, 8, 0]);
  expect(runs.get("9")).toEqual([1, 0]);
});

test("lines of another probe's collections do not count as collections", async () => {
  const other = body("0.5", [[7, 3]]).replace('probe="p"', 'probe="q"');
  const w = new PeriodWatch(scripted([body("0.1", [[7, 3]]), other]), "p", LINE);
  await expect(w.waitCollections(1, 1_000)).rejects.toBeInstanceOf(WatchTimeoutError);
  expect((await w.stop()).get("7")).toEqual([3]);
});
