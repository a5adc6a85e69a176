// bun src/probes/l7/protocols/redis.bench.ts [seconds-per-fixture]: Redis parse rate on the recorded fixtures.
import { benchParser, printResults } from "./parse-bench.ts";
import { redisParser } from "./redis.ts";

const seconds = Number(process.argv[2] ?? 1);
if (!(seconds > 0)) throw new RangeError(`seconds per fixture must be a positive number, got ${process.argv[2]}`);
printResults("redis", benchParser(redisParser, `${import.meta.dir}/testdata/redis`, seconds));
