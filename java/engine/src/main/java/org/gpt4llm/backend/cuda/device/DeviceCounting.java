package org.gpt4llm.backend.cuda.device;

import java.util.concurrent.atomic.AtomicLong;

/** The running counts behind {@link DeviceCounters}, shared by both devices; any thread may count. */
final class DeviceCounting {
    private final AtomicLong launches = new AtomicLong(), gemms = new AtomicLong(), graphLaunches = new AtomicLong(),
            synchronizations = new AtomicLong(), allocations = new AtomicLong(), frees = new AtomicLong(),
            uploads = new AtomicLong(), uploadBytes = new AtomicLong(), downloads = new AtomicLong(),
            downloadBytes = new AtomicLong(), copies = new AtomicLong(), memsets = new AtomicLong(),
            asyncDownloads = new AtomicLong(), asyncDownloadBytes = new AtomicLong(), eventRecords = new AtomicLong(),
            streamWaits = new AtomicLong(), eventWaits = new AtomicLong();

    void launch() {
        launches.incrementAndGet();
    }

    void gemm() {
        gemms.incrementAndGet();
    }

    void graphLaunch() {
        graphLaunches.incrementAndGet();
    }

    void synchronization() {
        synchronizations.incrementAndGet();
    }

    void allocation() {
        allocations.incrementAndGet();
    }

    /** A free drains the stream first: it is a synchronisation too. */
    void free() {
        frees.incrementAndGet();
        synchronizations.incrementAndGet();
    }

    void upload(long bytes) {
        uploads.incrementAndGet();
        uploadBytes.addAndGet(bytes);
    }

    /** A download waits for the work queued before it: it is a synchronisation too. */
    void download(long bytes) {
        downloads.incrementAndGet();
        downloadBytes.addAndGet(bytes);
        synchronizations.incrementAndGet();
    }

    void copy() {
        copies.incrementAndGet();
    }

    void memset() {
        memsets.incrementAndGet();
    }

    /** A copy queued on the copy stream: the host does not wait for it. */
    void asyncDownload(long bytes) {
        asyncDownloads.incrementAndGet();
        asyncDownloadBytes.addAndGet(bytes);
    }

    void eventRecord() {
        eventRecords.incrementAndGet();
    }

    void streamWait() {
        streamWaits.incrementAndGet();
    }

    void eventWait() {
        eventWaits.incrementAndGet();
    }

    DeviceCounters snapshot() {
        return new DeviceCounters(launches.get(), gemms.get(), graphLaunches.get(), synchronizations.get(),
                allocations.get(), frees.get(), uploads.get(), uploadBytes.get(), downloads.get(), downloadBytes.get(),
                copies.get(), memsets.get(), asyncDownloads.get(), asyncDownloadBytes.get(), eventRecords.get(),
                streamWaits.get(), eventWaits.get());
    }
}
