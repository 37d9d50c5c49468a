package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.gpt4llm.data.BatchSource;

/** Two micro-batches of 2 rows give the loss and the gradients of one batch of the same 4 rows. */
class AccumulationTest {
    @Test
    void twoMicroBatchesOfTwoEqualOneBatchOfFour() {
        long seed = TestSeeds.next();
        BatchSource<TokenBatch> data = Synthetic.counting(4, seed); // rows of 6..12 tokens: the splits pad differently
        try (CpuBackend cpu = new CpuBackend(2); var whole = Synthetic.model(cpu, seed).model();
             var split = Synthetic.model(cpu, seed).model()) {
            FullFineTune a = new FullFineTune(whole, null), b = new FullFineTune(split, null);
            double lossWhole = Trainer.accumulate(a, List.of(data.batch(new int[] {0, 1, 2, 3})));
            double lossSplit = Trainer.accumulate(b, List.of(data.batch(new int[] {0, 1}), data.batch(new int[] {2, 3})));
            assertEquals(lossWhole, lossSplit, 1e-5 * lossWhole, "seed " + seed);
            Map<String, Tensor> ga = a.trainableGradients(), gb = b.trainableGradients();
            for (String name : ga.keySet()) {
                double err = Numerics.relErr(cpu.download(ga.get(name)), cpu.download(gb.get(name)));
                assertTrue(err < 1e-5, name + ": relative error " + err + " (seed " + seed + ")");
            }
            // a second step starts from zero gradients, not from the first step's
            TokenBatch four = data.batch(new int[] {0, 1, 2, 3});
            Trainer.accumulate(a, List.of(four));
            for (String name : ga.keySet()) {
                assertTrue(Numerics.relErr(cpu.download(ga.get(name)), cpu.download(gb.get(name))) < 1e-5, name);
            }
        }
    }
}
