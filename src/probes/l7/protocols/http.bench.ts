// bun src/probes/l7/protocols/http.bench.ts [seconds-per-fixture]: HTTP/1.x parse rate on the recorded fixtures.
import { httpParser } from "./http.ts";
import { benchParser, printResults } from "./parse-bench.ts";

const seconds = Number(process.argv[2] ?? 1);
if (!(seconds > 0)) throw new RangeError(`seconds per fixture must be a positive number, got ${process.argv[2]}`);
printResults("http", benchParser(httpParser, `${import.meta.dir}/testdata/http`, seconds));
