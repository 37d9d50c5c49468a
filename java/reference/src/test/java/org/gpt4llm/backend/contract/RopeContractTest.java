package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Checks.assertClose;
import static org.gpt4llm.backend.contract.Target.Result.STORED;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
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
 * Rotary embedding forward and backward (both in place) on every backend against libtorch autograd,
 * the reference written the way HF's LlamaRotaryEmbedding / apply_rotary_pos_emb / rotate_half
 * compute it, on the values the backend holds; the backward undoes the forward.
 */
class RopeContractTest {
    @AfterAll
    static void report() {
        Checks.report("rope");
    }

    /**
     * N, H, D, max position: D/2 % 8 == 0 (D = 64, 96, 128) takes a GPU's 16-byte path; 512 rows of 64
     * positions repeat them, as a training batch does (the cpu then computes each position's angles once).
     */
    static Stream<Arguments> shapes() {
        return Stream.concat(Target.crossed(new Object[] {1, 1, 2, 8}, new Object[] {3, 2, 6, 100},
                        new Object[] {19, 3, 64, 2048}, new Object[] {7, 4, 128, 4096}, new Object[] {3, 1, 18, 512},
                        new Object[] {5, 2, 96, 8192}, new Object[] {1, 5, 34, 1}, new Object[] {512, 2, 64, 64}),
                Target.notEmulated(new Object[] {33, 1, 18, 512}, new Object[] {64, 8, 128, 4096}));
    }

    static Stream<Target> targets() {
        return Target.all();
    }

    /**
     * x [N,H,D] rotated as HF does it: x * cos + rotate_half(x) * sin with cos/sin [N,1,D]. The angles
     * are HF's, fp32 products of the position and an fp32 inverse frequency (near position 8191 their
     * rounding is up to 5e-4 rad, far above an fp32 tolerance, so it is part of the contract); cos, sin
     * and the rotation are then taken in the precision of x.
     */
    static org.bytedeco.pytorch.Tensor hfRope(org.bytedeco.pytorch.Tensor x, int[] pos, int d, float theta) {
        // inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
        var exps = torch.arange(new Scalar(0L), new Scalar((long) d), new Scalar(2L))
                .to(torch.ScalarType.Float).div(new Scalar((long) d));
        var invFreq = torch.pow(new Scalar((double) theta), exps).reciprocal().mul(new Scalar(1.0));
        // freqs = inv_freq[None, :] * position_ids[:, None] (fp32), emb = cat(freqs, freqs)
        var p = Torch.longs(pos, pos.length).to(torch.ScalarType.Float);
        var freqs = p.unsqueeze(1).mul(invFreq.unsqueeze(0));
        var emb = torch.cat(new TensorVector(freqs, freqs), -1).to(x.scalar_type());
        var cos = emb.cos().unsqueeze(1);
        var sin = emb.sin().unsqueeze(1);
        var x1 = x.narrow(-1, 0, d / 2);
        var x2 = x.narrow(-1, d / 2, d / 2);
        var rotated = torch.cat(new TensorVector(x2.neg(), x1), -1);
        return x.mul(cos).add(rotated.mul(sin));
    }

    @ParameterizedTest(name = "{0} N={1} H={2} D={3} maxPos={4}")
    @MethodSource("shapes")
    void matchesHuggingFace(Target t, int n, int h, int d, int maxPos) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        float theta = rng.nextBoolean() ? 10000f : 500000f;
        String ctx = "seed " + seed + ", N=" + n + ", H=" + h + ", D=" + d + ", theta " + theta;
        int[] pos = new int[n];
        for (int i = 0; i < n; i++) pos[i] = rng.nextInt(maxPos);
        pos[n - 1] = maxPos - 1;  // the largest angle always occurs
        float[] x = t.held(Numerics.normal(rng, n * h * d, 1f));
        float[] dy = t.held(Numerics.normal(rng, n * h * d, 1f));

        float[] refY, refDx;
        try (PointerScope scope = new PointerScope()) {
            var tx = TorchRef.leaf64(x, n, h, d);
            var y = hfRope(tx, pos, d, theta);
            TorchRef.backward(y, dy);
            refY = Torch.toFloats(y);
            refDx = Torch.toFloats(tx.grad());
        }
        // applied to the forward's output the backward gives x back, up to the forward's and its own
        // rounding to the stored type: two roundings where that is bf16
        double roundTrip = t.bf16() ? 2 * t.tol(STORED) : t.tol(STORED);

        t.run(() -> {
            try (Arena arena = Arena.ofConfined()) {
                Backend be = t.backend();
                Tensor positions = t.ints(arena, pos, n);
                Tensor tx = t.act(arena, x, n, h * d);
                be.ropeForward(tx, positions, h, d, theta);
                assertClose(t, "rope forward", t.get(tx), refY, t.tol(STORED), ctx);
                Tensor g = t.act(arena, dy, n, h * d);
                be.ropeBackward(g, positions, h, d, theta);
                assertClose(t, "rope backward", t.get(g), refDx, t.tol(STORED), ctx);
                be.ropeBackward(tx, positions, h, d, theta);
                assertClose(t, "rope backward(forward(x))", t.get(tx), x, roundTrip, ctx);
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("targets")
    void shapesThatDoNotFitAreRefused(Target t) {
        Backend be = t.backend();
        try (Arena arena = Arena.ofConfined()) {
            Tensor pos = t.ints(arena, new int[] {0, 1}, 2);
            Tensor x = be.allocate(arena, t.act(), 2, 12);
            assertThrows(IllegalArgumentException.class, () -> be.ropeForward(x, pos, 2, 3, 1e4f));   // odd D
            assertThrows(IllegalArgumentException.class, () -> be.ropeForward(x, pos, 3, 6, 1e4f));   // 2 x 18
            assertThrows(IllegalArgumentException.class, () -> be.ropeBackward(be.allocate(arena,
                    t.bf16() ? DType.F32 : DType.BF16, 2, 12), pos, 2, 6, 1e4f));                     // not the activation type
            assertThrows(IllegalArgumentException.class, () -> be.ropeForward(x,
                    be.allocate(arena, DType.F32, 2), 2, 6, 1e4f));                                    // positions not I32
        }
    }
}
