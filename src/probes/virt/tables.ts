// Table of the virt probe (spec metrics.json, meta file virt_proc.meta): field order,
// types and descriptions follow the spec exactly (checked by index.test.ts when the spec
// folder is present).
import { defineTable, type TableDef } from "../../store/table.ts";

/** virt_proc.meta: virt_proc. */
export const virtProcTable: TableDef = defineTable({
  name: "virt_proc",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "id of the VM (qemu) process" },
    { name: "uuid", type: "label", description: "system (DMI) uuid" },
    { name: "vm_name", type: "label", description: "virtual machine name" },
    { name: "value", type: "gauge", description: "constant 1 so that VM labels are exported" },
  ],
});

export const virtTables: readonly TableDef[] = [virtProcTable];
