package org.gpt4llm.memory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Live bytes by {@link MemoryCategory} of one backend's allocations, on its device and on the host,
 * with each side's high-water mark and the categories at that mark. The owner of a buffer names its
 * category when it allocates ({@code Backend.allocate}); the bytes are given back when the buffer's
 * arena closes. Thread-safe.
 */
public final class MemoryLedger {
    /** Where an allocation lives. */
    public enum Side { DEVICE, HOST }

    private static final int N = MemoryCategory.values().length;
    private final long[][] live = new long[2][N];
    private final long[] liveTotal = new long[2];
    private final long[] peakTotal = new long[2];
    private final long[][] atPeak = new long[2][N];

    /**
     * Counts {@code bytes} of {@code category} on {@code side} from now until {@code arena} closes (an
     * automatic arena: until its memory is collected; the global arena: for good).
     */
    public void track(Arena arena, Side side, MemoryCategory category, long bytes) {
        if (bytes == 0) return;
        allocated(side, category, bytes);
        try {
            // a zero-length segment whose only job is to run the release when the arena closes
            MemorySegment.NULL.reinterpret(arena, s -> freed(side, category, bytes));
        } catch (RuntimeException e) {
            freed(side, category, bytes);   // the arena was already closed
            throw e;
        }
    }

    public synchronized void allocated(Side side, MemoryCategory category, long bytes) {
        if (bytes < 0) throw new IllegalArgumentException("negative allocation of " + bytes + " bytes");
        int s = side.ordinal();
        live[s][category.ordinal()] += bytes;
        liveTotal[s] += bytes;
        if (liveTotal[s] > peakTotal[s]) {
            peakTotal[s] = liveTotal[s];
            System.arraycopy(live[s], 0, atPeak[s], 0, N);
        }
    }

    public synchronized void freed(Side side, MemoryCategory category, long bytes) {
        int s = side.ordinal();
        if (live[s][category.ordinal()] < bytes) {
            throw new IllegalStateException("freeing " + bytes + " bytes of " + category.key() + " on the "
                    + side.name().toLowerCase(java.util.Locale.ROOT) + " with " + live[s][category.ordinal()] + " live");
        }
        live[s][category.ordinal()] -= bytes;
        liveTotal[s] -= bytes;
    }

    /** Bytes live now, by category. */
    public synchronized Footprint live() {
        return Footprint.of(live[0], live[1]);
    }

    /** The categories at each side's high-water mark (the device's at the device peak, the host's at the host peak). */
    public synchronized Footprint peak() {
        return Footprint.of(atPeak[0], atPeak[1]);
    }

    public synchronized long peakDeviceBytes() {
        return peakTotal[0];
    }

    public synchronized long peakHostBytes() {
        return peakTotal[1];
    }

    /** Starts the high-water marks again from what is live now. */
    public synchronized void resetPeak() {
        for (int s = 0; s < 2; s++) {
            peakTotal[s] = liveTotal[s];
            System.arraycopy(live[s], 0, atPeak[s], 0, N);
        }
    }
}
