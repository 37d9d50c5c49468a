package org.gpt4llm.backend.cuda.device;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.util.Locale;

/**
 * What a {@link Device} has done since it was opened, as a snapshot ({@link Device#counters()}); the
 * difference of two snapshots ({@link #minus}) is what the work between them did, so a test can hold
 * a training step to its budget and {@code bench step} can print it.
 *
 * <p>Work captured into a graph is not counted when captured (it does not run then); a replay counts
 * one {@code graphLaunches} and nothing for the work inside it.
 *
 * @param launches        kernel launches
 * @param gemms           GEMMs (cuBLAS or OpenBLAS calls)
 * @param graphLaunches   replays of a captured graph
 * @param synchronizations the times the host waited for the device: {@link Device#synchronize()}, every
 *                        download, an upload from heap memory (staged, then waited for) and every free
 *                        (the stream is drained first)
 * @param allocations     device allocations
 * @param frees           device frees
 * @param uploads         host-to-device copies
 * @param uploadBytes     their bytes
 * @param downloads       device-to-host copies
 * @param downloadBytes   their bytes
 * @param copies          device-to-device copies
 * @param memsets         zero fills ({@link Device#zero})
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)  // as in the JSON reports that carry them
public record DeviceCounters(long launches, long gemms, long graphLaunches, long synchronizations, long allocations,
                             long frees, long uploads, long uploadBytes, long downloads, long downloadBytes, long copies,
                             long memsets) {
    public static final DeviceCounters ZERO = new DeviceCounters(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /** What happened between {@code earlier} and this snapshot. */
    public DeviceCounters minus(DeviceCounters earlier) {
        return new DeviceCounters(launches - earlier.launches, gemms - earlier.gemms, graphLaunches - earlier.graphLaunches,
                synchronizations - earlier.synchronizations, allocations - earlier.allocations, frees - earlier.frees,
                uploads - earlier.uploads, uploadBytes - earlier.uploadBytes, downloads - earlier.downloads,
                downloadBytes - earlier.downloadBytes, copies - earlier.copies, memsets - earlier.memsets);
    }

    /** One line, e.g. {@code launches 212, gemms 96, graphs 0, syncs 1, allocs 0, frees 0, H2D 3 (1.5 KiB), D2H 1 (8 B), D2D 4, memsets 40}. */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "launches %d, gemms %d, graphs %d, syncs %d, allocs %d, frees %d, H2D %d (%s), "
                + "D2H %d (%s), D2D %d, memsets %d", launches, gemms, graphLaunches, synchronizations, allocations, frees,
                uploads, bytes(uploadBytes), downloads, bytes(downloadBytes), copies, memsets);
    }

    private static String bytes(long b) {
        if (b < 1024) return b + " B";
        if (b < 1024 * 1024) return String.format(Locale.ROOT, "%.1f KiB", b / 1024.0);
        return String.format(Locale.ROOT, "%.1f MiB", b / (1024.0 * 1024));
    }
}
