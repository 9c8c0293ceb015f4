// A small Java program for stoker's JFR tests: CPU work in distinct methods,
// allocations of several sizes, and threads contending for one monitor, on
// N threads for S seconds (arguments: threads seconds). Recorded with
// -XX:StartFlightRecording by the tests; the JDK's `jfr` tool is the
// reference reader of what it records.
import java.util.ArrayList;
import java.util.List;

public class Busy {
    static final Object LOCK = new Object();
    static volatile long sink;

    static long hashLoop(int rounds) {
        long h = 1125899906842597L;
        for (int i = 0; i < rounds; i++) h = 31 * h + (i ^ (h >>> 7));
        return h;
    }

    static long parse(int rounds) {
        long n = 0;
        for (int i = 0; i < rounds; i++) n += Long.toString(i * 7919L).length();
        return n;
    }

    static volatile byte[] big;
    static int calls;

    // Small objects come from TLABs; every 64th call also one of 16 MiB,
    // larger than any TLAB (and a humongous object for G1), so that the
    // recordings always hold outside-TLAB allocations in Busy's own code.
    static List<byte[]> allocate(int count, int size) {
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < count; i++) out.add(new byte[size + (i % 7) * 64]);
        if (calls++ % 64 == 0) big = new byte[16 << 20];
        return out;
    }

    static void contend() throws InterruptedException {
        synchronized (LOCK) {
            sink += hashLoop(200_000);
            Thread.sleep(2);
        }
    }

    public static void main(String[] args) throws Exception {
        int threads = args.length > 0 ? Integer.parseInt(args[0]) : 4;
        long seconds = args.length > 1 ? Long.parseLong(args[1]) : 3;
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        List<Thread> all = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            final int id = t;
            Thread th = new Thread(() -> {
                try {
                    while (System.nanoTime() < end) {
                        switch (id % 3) {
                            case 0: sink += hashLoop(2_000_000); break;
                            case 1: sink += parse(50_000); break;
                            default: sink += allocate(2_000, 256).size(); break;
                        }
                        if (id % 2 == 0) contend();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "busy-" + t);
            th.start();
            all.add(th);
        }
        for (Thread th : all) th.join();
        System.out.println("done " + sink);
    }
}
