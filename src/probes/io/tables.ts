// Tables of the io probe, from spec metrics.json (io.meta, entity block): io_latency (subitem
// io_trace), io_err (declared, never filled: errors are events only), io_count (io_count) and
// io_pagecache (page_cache). Field order, types and descriptions follow the spec exactly.
import { defineTable, type TableDef } from "../../store/table.ts";

/** io.meta: io_latency (subitem io_trace). */
export const ioLatencyTable: TableDef = defineTable({
  name: "io_latency",
  entity: "block",
  version: "1.0.0",
  fields: [
    { name: "major", type: "key", description: "block device major number" },
    { name: "first_minor", type: "key", description: "first minor number of the block device" },
    { name: "blk_name", type: "label", description: "block device name" },
    { name: "disk_name", type: "label", description: "name of the disk device" },
    { name: "latency_req_max", type: "gauge", description: "max whole-request latency (including queueing) in the period" },
    { name: "latency_req_last", type: "gauge", description: "latency of the last completed request" },
    { name: "latency_req_sum", type: "gauge", description: "sum of request latencies in the period" },
    { name: "latency_req_jitter", type: "gauge", description: "request latency jitter" },
    { name: "count_latency_req", type: "gauge", description: "number of completed requests" },
    { name: "latency_driver_max", type: "gauge", description: "max time spent in the driver" },
    { name: "latency_driver_last", type: "gauge", description: "driver time of the last request" },
    { name: "latency_driver_sum", type: "gauge", description: "sum of driver times" },
    { name: "latency_driver_jitter", type: "gauge", description: "driver time jitter" },
    { name: "count_latency_driver", type: "gauge", description: "number of driver operations" },
    { name: "latency_device_max", type: "gauge", description: "max time spent in the device" },
    { name: "latency_device_last", type: "gauge", description: "device time of the last request" },
    { name: "latency_device_sum", type: "gauge", description: "sum of device times" },
    { name: "latency_device_jitter", type: "gauge", description: "device time jitter" },
    { name: "count_latency_device", type: "gauge", description: "number of device operations" },
  ],
});

/** io.meta: io_err (subitem io_err). */
export const ioErrTable: TableDef = defineTable({
  name: "io_err",
  entity: "block",
  version: "1.0.0",
  fields: [
    { name: "major", type: "key", description: "block device major number" },
    { name: "first_minor", type: "key", description: "first minor number of the block device" },
    { name: "blk_name", type: "label", description: "block device name" },
    { name: "disk_name", type: "label", description: "name of the disk device" },
    { name: "err_code", type: "gauge", description: "error code of the failed I/O" },
  ],
});

/** io.meta: io_count (subitem io_count). */
export const ioCountTable: TableDef = defineTable({
  name: "io_count",
  entity: "block",
  version: "1.0.0",
  fields: [
    { name: "major", type: "key", description: "block device major number" },
    { name: "first_minor", type: "key", description: "first minor number of the block device" },
    { name: "blk_name", type: "label", description: "block device name" },
    { name: "disk_name", type: "label", description: "name of the disk device" },
    { name: "read_bytes", type: "gauge", description: "bytes read" },
    { name: "write_bytes", type: "gauge", description: "bytes written" },
  ],
});

/** io.meta: io_pagecache (subitem page_cache). */
export const ioPagecacheTable: TableDef = defineTable({
  name: "io_pagecache",
  entity: "block",
  version: "1.0.0",
  fields: [
    { name: "major", type: "key", description: "block device major number" },
    { name: "first_minor", type: "key", description: "first minor number of the block device" },
    { name: "blk_name", type: "label", description: "block device name" },
    { name: "disk_name", type: "label", description: "name of the disk device" },
    { name: "access_pagecache", type: "gauge", description: "page-cache accesses" },
    { name: "mark_buffer_dirty", type: "gauge", description: "buffer pages marked dirty" },
    { name: "load_page_cache", type: "gauge", description: "pages added to the page cache LRU" },
    { name: "mark_page_dirty", type: "gauge", description: "pages marked dirty" },
  ],
});

export const ioTables: readonly TableDef[] = [ioLatencyTable, ioErrTable, ioCountTable, ioPagecacheTable];
