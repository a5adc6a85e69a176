// Addresses as inet_ntop() prints them (glibc), shared by the probes that report them
// (socket, tcp, baseinfo): dotted IPv4; IPv6 in RFC 5952 form (the
// longest run of two or more zero groups becomes "::", lower-case hex), IPv4-mapped and
// IPv4-compatible addresses with a dotted tail.

/** Text of a 4-byte (AF_INET = 2) or 16-byte (AF_INET6) address. */
export function ipText(family: number, b: Uint8Array): string {
  if (family === 2) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  const dotted = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  if (groups.slice(0, 5).every((g) => g === 0)) {
    if (groups[5] === 0xffff) return `::ffff:${dotted}`;
    if (groups[5] === 0 && groups[6] !== 0) return `::${dotted}`;
  }
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i >= 2 && j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}
