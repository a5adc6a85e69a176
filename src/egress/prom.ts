// prom-client's metric classes without its index module: the index also loads cluster
// aggregation, the push gateway and default process metrics, which cost ~10 MB of RSS in
// the compiled agent. Import Registry/Gauge/Counter from here, never from "prom-client".
import type * as PromClient from "prom-client";

export const Registry = require("prom-client/lib/registry") as typeof PromClient.Registry;
export const Gauge = require("prom-client/lib/gauge") as typeof PromClient.Gauge;
export const Counter = require("prom-client/lib/counter") as typeof PromClient.Counter;
export type Registry = PromClient.Registry;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export type Counter<T extends string = string> = PromClient.Counter<T>;
