package org.gpt4llm.memory;

import java.util.Arrays;
import java.util.Map;

/**
 * Bytes by {@link MemoryCategory} on the device and on the host: what a {@link MemoryLedger} counted
 * at some moment, or what a plan says a run needs. On the {@code cpu} backend the device is the
 * CPU's own memory; host bytes are state kept off the device (an offloaded optimizer).
 */
public final class Footprint {
    private final long[] device;
    private final long[] host;

    private Footprint(long[] device, long[] host) {
        this.device = device;
        this.host = host;
    }

    /** Bytes per category in {@link MemoryCategory#ordinal} order, copied. */
    static Footprint of(long[] device, long[] host) {
        return new Footprint(device.clone(), host.clone());
    }

    public long device(MemoryCategory c) {
        return device[c.ordinal()];
    }

    public long host(MemoryCategory c) {
        return host[c.ordinal()];
    }

    public long deviceBytes() {
        return Arrays.stream(device).sum();
    }

    public long hostBytes() {
        return Arrays.stream(host).sum();
    }

    /** This footprint with {@code bytes} more (or fewer, when negative) of category {@code c} on the device. */
    public Footprint plusDevice(MemoryCategory c, long bytes) {
        long[] d = device.clone();
        d[c.ordinal()] += bytes;
        return new Footprint(d, host);
    }

    /** This footprint with {@code bytes} more of category {@code c} on the host. */
    public Footprint plusHost(MemoryCategory c, long bytes) {
        long[] h = host.clone();
        h[c.ordinal()] += bytes;
        return new Footprint(device, h);
    }

    /** Device bytes by category key, in category order. */
    public Map<String, Long> deviceByKey() {
        return byKey(device);
    }

    /** Host bytes by category key, in category order. */
    public Map<String, Long> hostByKey() {
        return byKey(host);
    }

    private static Map<String, Long> byKey(long[] bytes) {
        Map<String, Long> out = new java.util.LinkedHashMap<>();
        for (MemoryCategory c : MemoryCategory.values()) out.put(c.key(), bytes[c.ordinal()]);
        return out;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Footprint f && Arrays.equals(device, f.device) && Arrays.equals(host, f.host);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(device) + Arrays.hashCode(host);
    }

    @Override
    public String toString() {
        return "device " + deviceByKey() + ", host " + hostByKey();
    }
}
