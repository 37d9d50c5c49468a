package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.gpt4llm.backend.contract.Target.Result.STORED;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.model.SequenceLogProbs;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Summed response log-probabilities ({@link SequenceLogProbs}, TRL's per-sequence sum over the
 * positions whose label is not -100) and their backward into the logits, on every backend, against
 * libtorch: {@code log_softmax(logits).gather(targets)} masked and summed per row, and the autograd
 * gradient of {@code Σ_b w_b logp_b} for random weights w, in float64. Rows have a prompt, a response
 * and right padding of their own lengths; one row has no response at all (logp 0, a zero gradient).
 * The gradient replaces the logits in place, as DPO's backward uses it.
 */
class SequenceLogProbsContractTest {
    @AfterAll
    static void report() {
        Checks.report("logp");
    }

    /** rows B, row length T, vocabulary V. */
    static Stream<Arguments> shapes() {
        return Target.crossed(new Object[][] {{4, 9, 37}, {6, 16, 300}, {2, 5, 1000}});
    }

    @ParameterizedTest(name = "{0} B={1} T={2} V={3}")
    @MethodSource("shapes")
    void matchesLibtorch(Target t, int batch, int len, int vocab) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int n = batch * len;
        float[] logits = t.held(Numerics.normal(rng, n * vocab, 3f));
        int[] targets = new int[n];
        for (int b = 0; b < batch; b++) {
            int prompt = 1 + rng.nextInt(len / 2), end = b == 1 ? prompt : prompt + 1 + rng.nextInt(len - prompt);
            for (int i = 0; i < len; i++) {
                targets[b * len + i] = i >= prompt && i < end ? rng.nextInt(vocab) : TokenBatch.IGNORE;  // row 1: no response
            }
        }
        float[] weights = Numerics.normal(rng, batch, 1f);
        double[][] ref = reference(logits, targets, weights, batch, vocab);
        String ctx = "seed " + seed;
        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor x = t.act(arena, logits, n, vocab), tt = t.ints(arena, targets, n);
                Tensor losses = be.allocate(arena, DType.F32, n);
                float[] logp = SequenceLogProbs.forward(be, losses, x, tt, targets, batch);
                Checks.assertClose(t, "logp sums", logp, floats(ref[0]), t.tol(F32_SHORT), ctx);
                SequenceLogProbs.backward(be, x, losses, x, tt, targets, weights);
                Checks.assertClose(t, "logp dlogits", t.get(x), floats(ref[1]), t.tol(STORED), ctx);
            }
        });
    }

    private static float[] floats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    /** {logp [B], d(Σ w_b logp_b)/d logits [B*T*V]} from libtorch autograd in float64. */
    static double[][] reference(float[] logits, int[] targets, float[] weights, int batch, int vocab) {
        int n = targets.length;
        int[] safe = new int[n];
        float[] mask = new float[n];
        for (int i = 0; i < n; i++) {
            boolean on = targets[i] != TokenBatch.IGNORE;
            safe[i] = on ? targets[i] : 0;
            mask[i] = on ? 1f : 0f;
        }
        try (PointerScope scope = new PointerScope()) {
            var x = TorchRef.leaf64(logits, n, vocab);
            // row b's sum as a product with the b-th row of a 0/1 matrix selecting its positions
            float[] select = new float[batch * n];
            for (int i = 0; i < n; i++) select[(i / (n / batch)) * n + i] = mask[i];
            var picked = torch.log_softmax(x, 1).gather(1, Torch.longs(safe, n, 1));
            var logp = TorchRef.f64(select, batch, n).matmul(picked).view(batch);
            logp.mul(TorchRef.f64(weights, batch)).sum().backward();
            float[] lp = Torch.toFloats(logp.detach());
            float[] g = Torch.toFloats(x.grad());
            double[] a = new double[lp.length], d = new double[g.length];
            for (int i = 0; i < lp.length; i++) a[i] = lp[i];
            for (int i = 0; i < g.length; i++) d[i] = g[i];
            return new double[][] {a, d};
        }
    }
}
