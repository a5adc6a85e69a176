import { expect, test } from "bun:test";
import { constants } from "node:crypto";

test("the TLS option bits used by tls.ts equal node:crypto's constants", async () => {
  const src = await Bun.file(new URL("./tls.ts", import.meta.url)).text();
  for (const name of ["SSL_OP_NO_TLSv1", "SSL_OP_NO_TLSv1_1", "SSL_OP_NO_TLSv1_2"] as const) {
    const m = new RegExp(`const ${name} = (0x[0-9a-f]+);`).exec(src);
    expect(Number(m?.[1])).toBe(constants[name]);
  }
});
