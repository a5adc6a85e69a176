// Function names of C++ (Itanium ABI) and Rust (legacy mangling) symbols, without parameter
// types: `_ZN3foo3BarC2Ev` → `foo::Bar::Bar`, Rust's
// `_ZN4core3ptr13drop_in_place17h0123456789abcdefE` → `core::ptr::drop_in_place`. Only
// plain and nested names of source names, std::, constructors and destructors are
// decoded; a name with anything else (templates, substitutions, operators, Rust v0 `_R`)
// is returned unchanged rather than half-decoded.

const RUST_HASH = /^h[0-9a-f]{16}$/;

/** Reads <number><identifier> at `i`; undefined when there is none. */
function sourceName(s: string, i: number): { name: string; next: number } | undefined {
  let j = i;
  while (j < s.length && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
  if (j === i || s[i] === "0") return undefined;
  const len = Number(s.slice(i, j));
  if (j + len > s.length) return undefined;
  return { name: s.slice(j, j + len), next: j + len };
}

/** Rust legacy's escapes in identifiers ($LT$, $u20$, .. for ::). */
function rustIdent(name: string): string {
  return name
    .replace(/\$([A-Z]{2}|u[0-9a-f]{2,6})\$/g, (m, code: string) => {
      const named: Record<string, string> = { SP: "@", BP: "*", RF: "&", LT: "<", GT: ">", LP: "(", RP: ")", C: "," };
      if (code.startsWith("u")) return String.fromCodePoint(parseInt(code.slice(1), 16));
      return named[code] ?? m;
    })
    .replace(/\.\./g, "::");
}

/** The demangled function name of `sym`, or `sym` itself. */
export function demangle(sym: string): string {
  if (!sym.startsWith("_Z")) return sym;
  let i = sym[2] === "L" ? 3 : 2; // L: internal linkage (a static function), not part of the name
  const parts: string[] = [];
  if (sym[i] === "N") {
    i++;
    while (sym[i] === "K" || sym[i] === "V" || sym[i] === "r" || sym[i] === "R" || sym[i] === "O") i++; // method qualifiers
    if (sym.startsWith("St", i)) {
      parts.push("std");
      i += 2;
    }
    for (;;) {
      if (sym[i] === "E") {
        i++;
        break;
      }
      const c = sym[i];
      if ((c === "C" || c === "D") && /^[CD][0-5]/.test(sym.slice(i, i + 2)) && parts.length > 0) {
        const cls = parts[parts.length - 1]!;
        parts.push(c === "C" ? cls : `~${cls}`);
        i += 2;
        continue;
      }
      const n = sourceName(sym, i);
      if (!n) return sym;
      parts.push(n.name);
      i = n.next;
    }
    if (parts.length === 0) return sym;
  } else {
    if (sym.startsWith("St", i)) {
      parts.push("std");
      i += 2;
    }
    const n = sourceName(sym, i);
    if (!n) return sym;
    parts.push(n.name);
    i = n.next;
  }
  // What follows is the parameter list (not shown), or a clone suffix (".cold", ".isra.0").
  const rest = sym.slice(i);
  if (rest.startsWith("I")) return sym; // template arguments: not decoded
  if (parts.length > 1 && RUST_HASH.test(parts[parts.length - 1]!)) return parts.slice(0, -1).map(rustIdent).join("::");
  const clone = /(\.[A-Za-z_]+(?:\.\d+)*)$/.exec(rest)?.[1] ?? "";
  return parts.join("::") + clone;
}
