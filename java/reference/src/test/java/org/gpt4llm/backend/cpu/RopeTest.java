package org.gpt4llm.backend.cpu;

import static org.gpt4llm.backend.cpu.KernelChecks.FP32_TOL;
import static org.gpt4llm.backend.cpu.KernelChecks.assertClose;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Rotary embedding forward and backward against libtorch autograd, with the reference written the
 * way HF's LlamaRotaryEmbedding / apply_rotary_pos_emb / rotate_half compute it.
 */
public class RopeTest {
    private static final CpuBackend CPU = new CpuBackend(2);

    @BeforeAll
    static void threads() {
        Torch.setThreads(1);
    }

    @AfterAll
    static void report() {
        KernelChecks.report("rope");
    }

    static Stream<Arguments> shapes() {
        // N, H, D, max position
        int[][] s = {{1, 1, 2, 8}, {3, 2, 6, 100}, {19, 3, 64, 2048}, {7, 4, 128, 4096}, {33, 1, 18, 512},
                {5, 2, 96, 8192}, {64, 8, 128, 4096}, {1, 5, 34, 1}};
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean scalar : new boolean[] {false, true}) {
            for (int[] r : s) b.add(Arguments.of(r[0], r[1], r[2], r[3], scalar));
        }
        return b.build();
    }

    /** x [N,H,D] rotated as HF does it: x * cos + rotate_half(x) * sin, cos/sin [N,1,D]. */
    public static org.bytedeco.pytorch.Tensor hfRope(org.bytedeco.pytorch.Tensor x, int[] pos, int d, float theta) {
        // inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
        var exps = torch.arange(new Scalar(0L), new Scalar((long) d), new Scalar(2L))
                .to(torch.ScalarType.Float).div(new Scalar((long) d));
        var invFreq = torch.pow(new Scalar((double) theta), exps).reciprocal().mul(new Scalar(1.0));
        // freqs = inv_freq[None, :] * position_ids[:, None] (fp32), emb = cat(freqs, freqs)
        var p = Torch.longs(pos, pos.length).to(torch.ScalarType.Float);
        var freqs = p.unsqueeze(1).mul(invFreq.unsqueeze(0));
        var emb = torch.cat(new TensorVector(freqs, freqs), -1);
        var cos = emb.cos().unsqueeze(1);
        var sin = emb.sin().unsqueeze(1);
        var x1 = x.narrow(-1, 0, d / 2);
        var x2 = x.narrow(-1, d / 2, d / 2);
        var rotated = torch.cat(new TensorVector(x2.neg(), x1), -1);
        return x.mul(cos).add(rotated.mul(sin));
    }

    @ParameterizedTest(name = "N={0} H={1} D={2} maxPos={3} scalar={4}")
    @MethodSource("shapes")
    void matchesHuggingFace(int n, int h, int d, int maxPos, boolean scalar) {
        long seed = TestSeeds.next();
        String ctx = "seed " + seed + ", N=" + n + ", H=" + h + ", D=" + d + ", " + KernelChecks.path(scalar);
        Random rng = new Random(seed);
        float theta = rng.nextBoolean() ? 10000f : 500000f;
        int[] pos = new int[n];
        for (int i = 0; i < n; i++) pos[i] = rng.nextInt(maxPos);
        pos[n - 1] = maxPos - 1;  // the largest angle always occurs
        float[] x = Numerics.normal(rng, n * h * d, 1.0f);
        float[] dy = Numerics.normal(rng, n * h * d, 1.0f);

        float[] refY, refDx;
        try (PointerScope scope = new PointerScope()) {
            var tx = KernelChecks.leaf(x, n, h, d);
            var y = hfRope(tx, pos, d, theta);
            KernelChecks.backward(y, dy);
            refY = Torch.toFloats(y);
            refDx = Torch.toFloats(tx.grad());
        }

        KernelChecks.onPath(scalar, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Tensor positions = Tensor.ofInts(arena, pos, n);
                Tensor tx = Tensor.of(arena, x, n, h * d);
                CPU.ropeForward(tx, positions, h, d, theta);
                assertClose("rope fwd", tx.toFloatArray(), refY, FP32_TOL, ctx + ", theta " + theta);
                Tensor g = Tensor.of(arena, dy, n, h * d);
                CPU.ropeBackward(g, positions, h, d, theta);
                assertClose("rope bwd", g.toFloatArray(), refDx, FP32_TOL, ctx + ", theta " + theta);
                // backward is the inverse rotation: applied to the forward output it gives x back
                CPU.ropeBackward(tx, positions, h, d, theta);
                assertClose("rope bwd(fwd(x))", tx.toFloatArray(), x, FP32_TOL, ctx);
            }
        });
    }

    @Test
    void oddHeadDimIsRejected() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor x = Tensor.of(arena, Numerics.normal(TestSeeds.random(), 6, 1f), 2, 3);
            Tensor pos = Tensor.ofInts(arena, new int[] {0, 1}, 2);
            assertThrows(IllegalArgumentException.class, () -> CPU.ropeForward(x, pos, 1, 3, 10000f));
        }
    }
}
