package org.gpt4llm.distributed.nccl;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.Random;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.CudaAvailability;
import org.gpt4llm.backend.cuda.device.CudaDevice;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/**
 * NCCL itself, on a machine with a GPU and libnccl.so.2 (bin/gpu-check runs it): a one-rank communicator
 * on GPU 0, every collective on F32 and BF16 device tensors. Skipped elsewhere.
 */
class NcclGpuTest {
    @Test
    void everyCollectiveOnOneGpu() {
        assumeTrue(CudaAvailability.driverPresent(), "no GPU here: " + CudaAvailability.driverStatus());
        assumeTrue(CudaAvailability.cublasPresent(), "no cuBLAS 12 here: " + CudaAvailability.cublasStatus());
        assumeTrue(Nccl.find().isPresent(), Nccl.describe());
        Nccl nccl = Nccl.load();
        assertEquals(2, nccl.version().chars().filter(c -> c == '.').count(), nccl.version());
        Random rng = TestSeeds.random();
        float[] x = new float[64];
        for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian();
        try (CudaBackend be = new CudaBackend(CudaDevice.open(0)); Arena a = Arena.ofConfined()) {
            Communicator c = new NcclCommunicator(nccl, be.device(), 0, 1, NcclCommunicator.uniqueId(nccl), Duration.ofSeconds(60));
            try {
                for (DType t : new DType[] {DType.F32, DType.BF16}) {
                    Tensor buf = be.allocate(a, t, x.length), out = be.allocate(a, t, x.length);
                    be.upload(buf, Tensor.of(a, x, x.length));
                    float[] want = be.download(buf);
                    c.allReduce(buf, Communicator.ReduceOp.SUM);
                    assertArrayEquals(want, be.download(buf), 0f, t + " all-reduce sum of one rank");
                    c.allReduce(buf, Communicator.ReduceOp.AVG);
                    assertArrayEquals(want, be.download(buf), 0f, t + " all-reduce avg of one rank");
                    c.reduceScatter(buf, out, Communicator.ReduceOp.SUM);
                    assertArrayEquals(want, be.download(out), 0f, t + " reduce-scatter of one rank");
                    be.zero(out);
                    c.allGather(buf, out);
                    assertArrayEquals(want, be.download(out), 0f, t + " all-gather of one rank");
                    c.broadcast(buf, 0);
                    assertArrayEquals(want, be.download(buf), 0f, t + " broadcast of one rank");
                }
                c.barrier();
            } finally {
                c.close();
            }
        }
    }
}
