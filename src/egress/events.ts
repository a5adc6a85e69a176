// Abnormal events: the JSON line of events-and-metadata.md §1.2 (exact member order),
// de-duplicated per entity key within the `event.timeout` window.
import type { ProbeEvent } from "../store/table.ts";

const SEVERITY_NUMBER = { INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 } as const;

/** JSON string body without the quotes; upstream copies verbatim, we escape so the line stays JSON. */
function s(v: string | undefined): string {
  return JSON.stringify(v ?? "").slice(1, -1);
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** ctime()-style local time: `Tue Nov 14 22:14:20 2023`. */
export function ctime(d: Date): string {
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${d.getFullYear()}`;
}

export function formatEvent(e: ProbeEvent, machineId: string, nowMs: number): string {
  const ts = Math.floor(nowMs / 1000) * 1000;
  const sev = e.severity ?? "WARN";
  const entityId = `${machineId}_${e.entity}_${e.key.replaceAll("/", ":")}`;
  const eventId = `${ts}_${entityId}`;
  const body = `${ctime(new Date(ts))} ${sev} Entity(${e.key}) ${e.message}`;
  return (
    `{"Timestamp":${ts},"event_id":"${s(eventId)}","Attributes":{"entity_id":"${s(entityId)}","event_id":"${s(eventId)}","event_type":"sys"},` +
    `"Resource":{"metric":"${s(`gala_gopher_${e.entity}_${e.metric}`)}","labels":{"Host":"${s(machineId)}","PID":"${s(e.pid)}","COMM":"${s(e.comm)}",` +
    `"IP":"${s(e.ip)}","ContainerID":"${s(e.containerId)}","POD":"${s(e.podId)}","Device":"${s(e.device)}"}},` +
    `"SeverityText":"${sev}","SeverityNumber":${SEVERITY_NUMBER[sev]},"Body":"${s(body)}"}`
  );
}

/** Suppresses an event whose entity key fired less than `windowSec` ago; remembers at most 1000 keys. */
export class EventDeduper {
  private readonly last = new Map<string, number>();
  constructor(private readonly windowSec: number) {}

  admit(scope: string, key: string, nowMs: number): boolean {
    if (this.windowSec <= 0) return true;
    const k = `${scope}\0${key}`;
    const prev = this.last.get(k);
    if (prev !== undefined && nowMs - prev < this.windowSec * 1000) return false;
    if (this.last.size >= 1000) {
      for (const [old, t] of this.last) if (nowMs - t >= this.windowSec * 1000) this.last.delete(old);
      if (this.last.size >= 1000) this.last.delete(this.last.keys().next().value as string);
    }
    this.last.delete(k);
    this.last.set(k, nowMs);
    return true;
  }
}
