package org.gpt4llm.backend.contract;

import static org.gpt4llm.backend.contract.Target.Result.F32_SHORT;
import static org.gpt4llm.backend.contract.Target.Result.F32_SUM;
import static org.gpt4llm.backend.contract.Target.Result.STORED;

import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.DpoLoss;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.model.SequenceLogProbs;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.reference.Torch;
import org.gpt4llm.reference.TorchDpoLoss;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The device-resident DPO training step on every backend: {@link Backend#dpoStep} (the loss and metrics
 * added to the step's sums, the per-sequence cross-entropy scales from the DPO gradient and the step's
 * gradient scale) against float64 arithmetic over two micro-batches, and the whole chain a DPO step runs
 * (per-token cross-entropy, {@link Backend#sequenceLogProbs}, {@link Backend#dpoLoss}, dpoStep, the
 * cross-entropy backward with those row scales) against libtorch autograd in float64 of
 * {@code gradScale · Σ pairs' loss} with respect to the logits, with TRL's loss written in libtorch ops.
 */
class DpoStepContractTest {
    private static final Backend.AdamW HP = new Backend.AdamW(0.9f, 0.999f, 1e-8f, 0f);

    @AfterAll
    static void report() {
        Checks.report("dpo step");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.contract.Target#all")
    void sumsAndRowScalesMatchFloat64(Target t) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int[] pairs = {13, 7};
        float gradScale = 1f / (pairs[0] + pairs[1]);
        float[][] loss = new float[2][], metrics = new float[2][], dc = new float[2][], dr = new float[2][];
        double sum = 0;
        double[] metricSums = new double[DpoLoss.METRICS.length];
        for (int k = 0; k < 2; k++) {
            loss[k] = new float[] {0.2f + rng.nextFloat()};
            metrics[k] = Numerics.normal(rng, DpoLoss.METRICS.length, 1f);
            dc[k] = Numerics.normal(rng, pairs[k], 0.05f);
            dr[k] = Numerics.normal(rng, pairs[k], 0.05f);
            sum += (double) loss[k][0] * pairs[k];
            for (int m = 0; m < metricSums.length; m++) metricSums[m] += (double) metrics[k][m] * pairs[k];
        }
        double lossSum = sum;
        int last = pairs[1];
        float[] scales = new float[2 * last];
        for (int i = 0; i < last; i++) {
            scales[i] = (float) (-(double) last * dc[1][i] * gradScale);
            scales[last + i] = (float) (-(double) last * dr[1][i] * gradScale);
        }
        String ctx = "seed " + seed;
        t.run(() -> {
            Backend be = t.backend();
            try (Arena arena = Arena.ofConfined(); StepScalars step = be.stepScalars()) {
                step.begin(gradScale, seed);
                step.setUpdate(1e-3f, 1, HP);
                step.upload();
                Tensor sums = be.allocate(arena, DType.F32, DpoLoss.METRICS.length);
                Tensor rowScales = t.f32(arena, Numerics.normal(rng, 2 * pairs[0], 1f), 2 * pairs[0]);  // garbage to overwrite
                for (int k = 0; k < 2; k++) {
                    int p = pairs[k];
                    be.dpoStep(step, sums, rowScales.rows(0, 2L * p), t.f32(arena, loss[k], 1),
                            t.f32(arena, metrics[k], DpoLoss.METRICS.length), t.f32(arena, dc[k], p), t.f32(arena, dr[k], p));
                }
                double tol = t.tol(F32_SHORT);
                Checks.assertClose(t, "dpo step loss sum", new float[] {(float) step.read().lossSum()},
                        new float[] {(float) lossSum}, tol, ctx);
                Checks.assertClose(t, "dpo step metric sums", t.get(sums), floats(metricSums), tol, ctx);
                Checks.assertClose(t, "dpo step row scales", t.get(rowScales.rows(0, 2L * last)), scales, tol, ctx);
            }
        });
    }

    static Stream<Arguments> chains() {
        return Target.crossed(new Object[][] {{"sigmoid", 0.1f, 0f, false}, {"sigmoid", 0.5f, 0.2f, false},
                {"ipo", 0.1f, 0f, false}, {"hinge", 0.1f, 0f, false}, {"sigmoid", 0.1f, 0f, true}});
    }

    /** P pairs, rows of T tokens over a vocabulary of V; one rejected row has no response at all (logp 0). */
    @ParameterizedTest(name = "{0} {1} beta={2} ls={3} referenceFree={4}")
    @MethodSource("chains")
    void theStepsChainMatchesLibtorch(Target t, String type, float beta, float labelSmoothing, boolean referenceFree) {
        long seed = TestSeeds.next();
        Random rng = new Random(seed);
        int p = 5, len = 11, vocab = 97, rows = 2 * p, n = rows * len;
        float[] logits = t.held(Numerics.normal(rng, n * vocab, 2f));
        int[] targets = new int[n];
        for (int b = 0; b < rows; b++) {
            int prompt = 1 + rng.nextInt(len / 2), end = b == p + 1 ? prompt : prompt + 1 + rng.nextInt(len - prompt);
            for (int i = 0; i < len; i++) targets[b * len + i] = i >= prompt && i < end ? rng.nextInt(vocab) : TokenBatch.IGNORE;
        }
        float[] refs = new float[rows];
        for (int b = 0; b < rows; b++) refs[b] = (float) (-3.0 * len + rng.nextGaussian() * 4);
        float gradScale = 1f / (p + 2);  // as if the step had other micro-batches
        DpoLoss settings = new DpoLoss(DpoLoss.Type.parse(type), beta, labelSmoothing, referenceFree);
        Reference ref = reference(logits, targets, refs, rows, vocab, settings, gradScale);
        String ctx = "seed " + seed + ", " + settings;
        t.run(() -> {
            Backend be = t.backend();
            try (Arena arena = Arena.ofConfined(); StepScalars step = be.stepScalars()) {
                step.begin(gradScale, seed);
                step.setUpdate(1e-3f, 1, HP);
                step.upload();
                Tensor x = t.act(arena, logits, n, vocab), tt = t.ints(arena, targets, n), r = t.f32(arena, refs, rows);
                Tensor losses = be.allocate(arena, DType.F32, n), logp = be.allocate(arena, DType.F32, rows);
                Tensor loss = be.allocate(arena, DType.F32, 1), metrics = be.allocate(arena, DType.F32, 4);
                Tensor grad = be.allocate(arena, DType.F32, rows), scales = be.allocate(arena, DType.F32, rows);
                Tensor sums = be.allocate(arena, DType.F32, 4);
                SequenceLogProbs.forward(be, logp, losses, x, tt, targets);
                be.dpoLoss(loss, metrics, grad.rows(0, p), grad.rows(p, p), logp.rows(0, p), logp.rows(p, p), r.rows(0, p),
                        r.rows(p, p), settings);
                be.dpoStep(step, sums, scales, loss, metrics, grad.rows(0, p), grad.rows(p, p));
                SequenceLogProbs.backward(be, x, losses, x, tt, targets, scales);
                Checks.assertClose(t, "dpo chain logp", t.get(logp), floats(ref.logp), t.tol(F32_SUM), ctx);
                Checks.assertClose(t, "dpo chain loss sum", new float[] {(float) step.read().lossSum()},
                        new float[] {(float) ref.lossSum}, t.tol(F32_SUM), ctx);
                Checks.assertClose(t, "dpo chain metric sums", t.get(sums), floats(ref.metricSums), t.tol(F32_SUM), ctx);
                Checks.assertClose(t, "dpo chain dlogits", t.get(x), floats(ref.dlogits), t.tol(STORED), ctx);
            }
        });
    }

    private record Reference(double[] logp, double lossSum, double[] metricSums, double[] dlogits) {}

    /** From libtorch autograd in float64: logp, Σ pairs' loss, P·metrics, and gradScale · d(Σ loss)/d logits. */
    private static Reference reference(float[] logits, int[] targets, float[] refs, int rows, int vocab, DpoLoss s,
                                       float gradScale) {
        int n = targets.length, p = rows / 2;
        int[] safe = new int[n];
        float[] select = new float[rows * n];
        for (int i = 0; i < n; i++) {
            boolean on = targets[i] != TokenBatch.IGNORE;
            safe[i] = on ? targets[i] : 0;
            select[(i / (n / rows)) * n + i] = on ? 1f : 0f;
        }
        try (PointerScope scope = new PointerScope()) {
            var x = TorchRef.leaf64(logits, n, vocab);
            var picked = torch.log_softmax(x, 1).gather(1, Torch.longs(safe, n, 1));
            var logp = TorchRef.f64(select, rows, n).matmul(picked).view(rows);
            var r = TorchRef.f64(refs, rows);
            var pc = logp.narrow(0, 0, p);
            var pr = logp.narrow(0, p, p);
            var rc = r.narrow(0, 0, p);
            var rr = r.narrow(0, p, p);
            var total = TorchDpoLoss.losses(pc, pr, rc, rr, s.type().label(), s.beta(), s.labelSmoothing(),
                    s.referenceFree()).sum();
            double[] metrics = TorchDpoLoss.metrics(pc, pr, rc, rr, s.beta());
            for (int m = 0; m < metrics.length; m++) metrics[m] *= p;
            double lossSum = total.item_double();
            total.mul(new Scalar((double) gradScale)).backward();
            return new Reference(doubles(Torch.toFloats(logp.detach())), lossSum, metrics,
                    doubles(Torch.toFloats(x.grad())));
        }
    }

    private static float[] floats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
        return f;
    }

    private static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }
}
