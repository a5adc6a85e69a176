// Java fixture for JIT symbols from /tmp/perf-<pid>.map: prints "ready", then spends
// argv[0] seconds in Spin.hotMethod (run with -XX:+PreserveFramePointer; the test writes
// the perf map with `jcmd <pid> Compiler.perfmap`).
public class Spin {
    static volatile long sink;

    static long hotMethod(long n) {
        long s = 0;
        for (long i = 0; i < n; i++) s += i * i ^ (s >>> 3);
        return s;
    }

    public static void main(String[] args) {
        long end = System.nanoTime() + (long) (Double.parseDouble(args[0]) * 1e9);
        System.out.println("ready");
        while (System.nanoTime() < end) sink += hotMethod(100000);
    }
}
