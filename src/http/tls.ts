// TLS options for both servers: TLS 1.3 only; a CA file turns on mutual TLS.
import { constants } from "node:crypto";
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

const ONLY_TLS13 =
  constants.SSL_OP_NO_SSLv2 | constants.SSL_OP_NO_SSLv3 | constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1 | constants.SSL_OP_NO_TLSv1_2;

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
