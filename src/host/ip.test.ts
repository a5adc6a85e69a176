import { describe, expect, test } from "bun:test";
import { ipText } from "./ip.ts";

const v6 = (s: string) => {
  const hex = s.replaceAll(":", "");
  return Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
};

describe("ipText (inet_ntop)", () => {
  test("IPv4", () => expect(ipText(2, new Uint8Array([10, 0, 2, 15]))).toBe("10.0.2.15"));
  test.each([
    ["0000:0000:0000:0000:0000:0000:0000:0000", "::"],
    ["0000:0000:0000:0000:0000:0000:0000:0001", "::1"],
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:0db8:0000:0001:0000:0000:0000:0001", "2001:db8:0:1::1"],
    ["2001:0db8:0000:0000:0001:0000:0000:0001", "2001:db8::1:0:0:1"],
    ["2001:0db8:0001:0002:0003:0004:0005:0006", "2001:db8:1:2:3:4:5:6"],
    ["2001:0db8:0000:0002:0003:0004:0005:0006", "2001:db8:0:2:3:4:5:6"],
    ["0000:0000:0000:0000:0000:ffff:7f00:0001", "::ffff:127.0.0.1"],
    ["0000:0000:0000:0000:0000:0000:0a00:0001", "::10.0.0.1"],
    ["0000:0000:0000:0000:0000:0000:0000:0002", "::2"],
    ["fe80:0000:0000:0000:0000:0000:0000:0000", "fe80::"],
  ])("%s -> %s", (raw, text) => expect(ipText(10, v6(raw))).toBe(text));
});

describe("ipText: the tcp probe's cases", () => {
  const v6 = (s: string) => {
    const groups = s.split(":").map((g) => parseInt(g, 16));
    const b = new Uint8Array(16);
    groups.forEach((g, i) => {
      b[2 * i] = g >> 8;
      b[2 * i + 1] = g & 0xff;
    });
    return b;
  };
  test("IPv4 and the IPv6 forms inet_ntop prints", () => {
    expect(ipText(2, new Uint8Array([192, 168, 1, 20]))).toBe("192.168.1.20");
    expect(ipText(10, v6("0:0:0:0:0:0:0:1"))).toBe("::1");
    expect(ipText(10, v6("0:0:0:0:0:0:0:0"))).toBe("::");
    expect(ipText(10, v6("2001:db8:0:0:0:0:0:1"))).toBe("2001:db8::1");
    expect(ipText(10, v6("2001:db8:0:1:1:1:1:1"))).toBe("2001:db8:0:1:1:1:1:1");
    expect(ipText(10, v6("fe80:0:0:1:0:0:0:1"))).toBe("fe80:0:0:1::1");
    expect(ipText(10, v6("1:0:0:2:0:0:3:4"))).toBe("1::2:0:0:3:4");
    expect(ipText(10, v6("0:0:0:0:0:ffff:c0a8:114"))).toBe("::ffff:192.168.1.20");
    expect(ipText(10, v6("0:0:0:0:0:0:0:2"))).toBe("::2");
  });
});
