// TLS options for both servers: TLS 1.3 only; a CA file turns on mutual TLS.
import { readFileSync } from "node:fs";
import type { ServerConfig } from "../config/types.ts";

export interface BunTlsOptions {
  key: string;
  cert: string;
  ca?: string;
  requestCert?: boolean;
  rejectUnauthorized?: boolean;
  secureOptions?: number;
}

// OpenSSL/BoringSSL option bits (the values of node:crypto's constants, which are not
// imported because loading node:crypto costs ~3.5 MB of RSS in the compiled agent).
const SSL_OP_NO_TLSv1 = 0x04000000;
const SSL_OP_NO_TLSv1_2 = 0x08000000;
const SSL_OP_NO_TLSv1_1 = 0x10000000;
// (SSLv3 does not exist in BoringSSL, which Bun uses.)
const ONLY_TLS13 = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2;

export function tlsOptions(s: ServerConfig): BunTlsOptions | undefined {
  if (!s.sslAuth) return undefined;
  const opts: BunTlsOptions = {
    key: readFileSync(s.privateKey, "utf8"),
    cert: readFileSync(s.certFile, "utf8"),
    secureOptions: ONLY_TLS13,
  };
  if (s.caFile) {
    opts.ca = readFileSync(s.caFile, "utf8");
    opts.requestCert = true;
    opts.rejectUnauthorized = true;
  }
  return opts;
}
