// The HPACK Huffman code (RFC 7541 Appendix B). The code is canonical: symbols sorted by
// (code length, symbol) take consecutive codes, so the table below — the code length of
// each of the 257 symbols (0..255 and EOS = 256), one letter each, "A" = 5 bits … "Z" = 30
// bits — is the whole code. hpack-huffman.test.ts pins codes the RFC lists.
const CODE_LENGTHS =
  "ISXXXXXXXTZXXZXXXXXXXXZXXXXXXXXXBFFHIBDGFFDGDBBBAAABBBBBBBCDKBHF" +
  "IBCCCCCCCCCCCCCCCCCCCCCCDCDIOIJBKABABABBBACCBBBABCBAABCCCCCKGJIX" +
  "PRPPRRRSRSSSSSTSTTRSTSSSSQRSRSSTRQPRRSSQSRRTQRSSQQRQSRSSPRRRSRRS" +
  "VVPORSRUVVVWWVTUOQVWWVWTQQVVXWWWPTPQRQQSRRUUTTVSVWVVWWWWWXWWWWWV" +
  "Z";

const EOS = 256;
const MIN_LEN = 5;
const MAX_LEN = 30;

/** Canonical decoding tables: per length, the first code, the symbol count and where its
 *  symbols start in `SYMBOLS`. Built once from the constant above (never mutated). */
interface CanonicalCode {
  firstCode: Int32Array;
  count: Int32Array;
  offset: Int32Array;
  symbols: Uint16Array;
  /** Code of each symbol (for the tests and for encoding test vectors). */
  codes: Uint32Array;
  lengths: Uint8Array;
}

function buildCanonicalCode(): CanonicalCode {
  if (CODE_LENGTHS.length !== 257) throw new Error(`HPACK Huffman table has ${CODE_LENGTHS.length} symbols, not 257`);
  const lengths = new Uint8Array(257);
  for (let s = 0; s < 257; s++) lengths[s] = CODE_LENGTHS.charCodeAt(s) - 65 + MIN_LEN;
  const order = [...lengths.keys()].sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const firstCode = new Int32Array(MAX_LEN + 1).fill(-1);
  const count = new Int32Array(MAX_LEN + 1);
  const offset = new Int32Array(MAX_LEN + 1);
  const codes = new Uint32Array(257);
  const symbols = Uint16Array.from(order);
  let code = 0;
  let prevLen = lengths[order[0]!]!;
  order.forEach((s, i) => {
    const len = lengths[s]!;
    if (i > 0) code = (code + 1) * 2 ** (len - prevLen);
    prevLen = len;
    codes[s] = code;
    if (count[len] === 0) {
      firstCode[len] = code;
      offset[len] = i;
    }
    count[len]!++;
  });
  return { firstCode, count, offset, symbols, codes, lengths };
}

export const HUFFMAN = buildCanonicalCode();

/** Decodes `src[start, end)` into `out` from `outStart`; returns the end offset in `out`, or -1
 *  when the input is not a valid HPACK Huffman string (EOS inside, padding longer than 7 bits
 *  or not all ones) or `out` is too small. */
export function huffmanDecode(src: Uint8Array, start: number, end: number, out: Uint8Array, outStart: number): number {
  const { firstCode, count, offset, symbols } = HUFFMAN;
  let o = outStart;
  let code = 0;
  let len = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      len++;
      if (len < MIN_LEN) continue;
      const k = code - firstCode[len]!;
      if (firstCode[len]! >= 0 && k >= 0 && k < count[len]!) {
        const sym = symbols[offset[len]! + k]!;
        if (sym === EOS || o >= out.length) return -1;
        out[o++] = sym;
        code = 0;
        len = 0;
      } else if (len >= MAX_LEN) return -1;
    }
  }
  // Padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (len > 7 || code !== 2 ** len - 1) return -1;
  return o;
}
