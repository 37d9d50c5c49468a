package org.gpt4llm.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The kernels' thread count is one for every calling thread: a backend is built on one thread and
 * called on others (`serve`'s decoding thread, the ranks of a data-parallel run), and OpenMP's own setting
 * reaches only the thread that sets it.
 */
class KernelThreadsTest {
    @Test
    void theCountSetOnOneThreadHoldsOnAnother() throws InterruptedException {
        int before = CpuKernels.getNumThreads();
        // one more than OpenMP would give a thread of its own accord
        int wanted = Runtime.getRuntime().availableProcessors() + 1;
        try {
            CpuKernels.setNumThreads(wanted);
            AtomicInteger seen = new AtomicInteger();
            Thread other = new Thread(() -> seen.set(CpuKernels.getNumThreads()));
            other.start();
            other.join();
            assertEquals(wanted, seen.get(), "the kernels' threads on a thread that did not set them");
            assertEquals(wanted, CpuKernels.getNumThreads(), "the kernels' threads on the thread that set them");
        } finally {
            CpuKernels.setNumThreads(before);
        }
    }
}
