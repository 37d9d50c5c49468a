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
 * @param memsets         zero fills ({@link Device#zero}, {@link Device#zeroBehind})
 * @param asyncDownloads  device-to-host copies queued on the copy stream ({@link Device#downloadBehind}), which
 *                        the host does not wait for
 * @param asyncDownloadBytes their bytes
 * @param eventRecords    events recorded on either stream ({@link Device#record})
 * @param streamWaits     the times a stream was made to wait for an event of the other ({@link Device#waitFor}),
 *                        which the host does not wait for
 * @param eventWaits      the times the host waited for one event ({@link Device.Event#synchronize}), not counted
 *                        in {@code synchronizations}
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)  // as in the JSON reports that carry them
public record DeviceCounters(long launches, long gemms, long graphLaunches, long synchronizations, long allocations,
                             long frees, long uploads, long uploadBytes, long downloads, long downloadBytes, long copies,
                             long memsets, long asyncDownloads, long asyncDownloadBytes, long eventRecords,
                             long streamWaits, long eventWaits) {
    public static final DeviceCounters ZERO = new DeviceCounters(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /** The counts of work on the compute stream alone: nothing queued on the copy stream, no events. */
    public DeviceCounters(long launches, long gemms, long graphLaunches, long synchronizations, long allocations,
                          long frees, long uploads, long uploadBytes, long downloads, long downloadBytes, long copies,
                          long memsets) {
        this(launches, gemms, graphLaunches, synchronizations, allocations, frees, uploads, uploadBytes, downloads,
                downloadBytes, copies, memsets, 0, 0, 0, 0, 0);
    }

    /** What happened between {@code earlier} and this snapshot. */
    public DeviceCounters minus(DeviceCounters earlier) {
        return new DeviceCounters(launches - earlier.launches, gemms - earlier.gemms, graphLaunches - earlier.graphLaunches,
                synchronizations - earlier.synchronizations, allocations - earlier.allocations, frees - earlier.frees,
                uploads - earlier.uploads, uploadBytes - earlier.uploadBytes, downloads - earlier.downloads,
                downloadBytes - earlier.downloadBytes, copies - earlier.copies, memsets - earlier.memsets,
                asyncDownloads - earlier.asyncDownloads, asyncDownloadBytes - earlier.asyncDownloadBytes,
                eventRecords - earlier.eventRecords, streamWaits - earlier.streamWaits, eventWaits - earlier.eventWaits);
    }

    /**
     * One line, e.g. {@code launches 212, gemms 96, graphs 0, syncs 1, allocs 0, frees 0, H2D 3 (1.5 KiB), D2H 1 (8 B),
     * D2D 4, memsets 40}, followed where the copy stream was used by {@code , async D2H 9 (2.0 MiB), events 6, stream
     * waits 6, event waits 3}.
     */
    @Override
    public String toString() {
        String line = String.format(Locale.ROOT, "launches %d, gemms %d, graphs %d, syncs %d, allocs %d, frees %d, H2D %d (%s), "
                + "D2H %d (%s), D2D %d, memsets %d", launches, gemms, graphLaunches, synchronizations, allocations, frees,
                uploads, bytes(uploadBytes), downloads, bytes(downloadBytes), copies, memsets);
        if (asyncDownloads == 0 && eventRecords == 0 && streamWaits == 0 && eventWaits == 0) return line;
        return line + String.format(Locale.ROOT, ", async D2H %d (%s), events %d, stream waits %d, event waits %d",
                asyncDownloads, bytes(asyncDownloadBytes), eventRecords, streamWaits, eventWaits);
    }

    private static String bytes(long b) {
        if (b < 1024) return b + " B";
        if (b < 1024 * 1024) return String.format(Locale.ROOT, "%.1f KiB", b / 1024.0);
        return String.format(Locale.ROOT, "%.1f MiB", b / (1024.0 * 1024));
    }
}
