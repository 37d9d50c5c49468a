package org.gpt4llm.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The scalars of one training step, kept where the backend's kernels read and write them, so that a
 * step queues all of its work without waiting for the device, and on a GPU can be captured once and
 * replayed as a CUDA graph ({@link Backend#captureGraph}) whose per-step values come from memory:
 * <ul>
 * <li>set on the host before the step ({@link #begin}, {@link #setUpdate}) and sent with one upload
 *     ({@link #upload}): the gradient scale (1 / the step's loss terms), the update's decay, step size
 *     and second-moment correction, and the dropout seed;
 * <li>written by the step's kernels: the loss sum ({@link Backend#addLoss}), the gradients' sum of
 *     squares and the clip factor ({@link Backend#clipGradients}), which AdamW reads
 *     ({@link Backend#adamw(Tensor, Tensor, Tensor, Tensor, Tensor, Backend.AdamW, StepScalars)});
 * <li>read back once, after the step ({@link #read}: one download of 8 bytes).
 * </ul>
 * A backend whose memory is the host's (the CPU) keeps no block: {@link #onHost} scalars hold the values
 * in fields, which the Backend's default step operations read and write. A model whose loss is computed
 * on the host adds it with {@link #addHostLoss}, on any backend.
 */
public final class StepScalars implements AutoCloseable {
    /** Float slots of the block (F32 [1] views through {@link #scalar}). */
    public static final int LOSS_SUM = 0, SUM_SQ = 1, CLIP = 2, GRAD_SCALE = 3, STEP_SIZE = 4, INV_BC2S = 5, DECAY = 6,
            NO_DECAY = 7;
    /** Int slot of the dropout seed, a long over slots 8 and 9 (8-byte aligned); the block is 64 bytes. */
    private static final int SEED = 8, INTS = 16;

    /** Where the block lives; null (and no block) on the host. */
    private final Backend backend;
    private final Arena arena;
    private final Tensor block;
    private float gradScale, lr;
    private int step;
    private long dropoutSeed;
    private Backend.AdamW hp;
    private double hostLoss, hostSumSq;
    private float hostClip = 1f;
    private boolean hostSkips;
    /** Whether the gradients' sum of squares was taken on the host (an offloaded optimizer), not in the block. */
    private boolean normOnHost;

    private StepScalars(Backend backend) {
        this.backend = backend;
        this.arena = backend == null ? null : Arena.ofShared();
        this.block = backend == null ? null : backend.allocate(arena, DType.I32, INTS);
    }

    /** Scalars held in fields: those of a backend whose memory is the host's. */
    public static StepScalars onHost() {
        return new StepScalars(null);
    }

    /** Scalars in a block of {@code backend}'s memory, read and written there by its kernels. */
    public static StepScalars inMemoryOf(Backend backend) {
        return new StepScalars(backend);
    }

    /** Whether the scalars live in {@code b}'s memory (false for host scalars). */
    public boolean livesIn(Backend b) {
        return block != null && backend == b;
    }

    /**
     * Starts a step: its gradient scale (1 / its loss terms, 0 without any) and dropout seed; the loss
     * sum starts from 0.
     */
    public void begin(float gradScale, long dropoutSeed) {
        this.gradScale = gradScale;
        this.dropoutSeed = dropoutSeed;
        hostLoss = 0;
        hostSumSq = 0;
        hostClip = 1f;
        hostSkips = false;
        normOnHost = false;
    }

    /** The update of the step: AdamW step {@code step} (from 1) at learning rate {@code lr}. */
    public void setUpdate(float lr, int step, Backend.AdamW hp) {
        if (step < 1) throw new IllegalArgumentException("adamw step counts from 1, got " + step);
        this.lr = lr;
        this.step = step;
        this.hp = hp;
    }

    /** Sends the step's values to the block with one upload (nothing on the host); the loss sum restarts at 0. */
    public void upload() {
        if (block == null) return;
        if (hp == null) throw new IllegalStateException("setUpdate was not called before the step's upload");
        int[] ints = new int[INTS];
        MemorySegment v = MemorySegment.ofArray(ints);
        v.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, CLIP, 1f);
        v.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, GRAD_SCALE, gradScale);
        v.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, STEP_SIZE, hp.stepSize(lr, step));
        v.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, INV_BC2S, hp.invBc2s(step));
        v.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, DECAY, hp.decay(lr));
        v.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, NO_DECAY, 1f);
        v.set(ValueLayout.JAVA_LONG_UNALIGNED, 4L * SEED, dropoutSeed);
        backend.upload(block, ints);
    }

    /** The loss sum and the gradients' sum of squares of a step. */
    public record Readback(double lossSum, double sumOfSquares) {}

    /** The step's results: one download of 8 bytes from the block (none on the host), plus the host's loss. */
    public Readback read() {
        if (block == null) return new Readback(hostLoss, hostSumSq);
        float[] v = backend.download(Tensor.wrap(block.data().asSlice(0, 8), DType.F32, 2));
        return new Readback(v[LOSS_SUM] + hostLoss, normOnHost ? hostSumSq : v[SUM_SQ]);
    }

    /** Slot {@code slot} of the block as F32 [1], for a kernel to read or write. */
    public Tensor scalar(int slot) {
        if (slot < 0 || slot > NO_DECAY) throw new IllegalArgumentException("no float slot " + slot + " in the step scalars");
        return Tensor.wrap(requireBlock().data().asSlice(4L * slot, 4), DType.F32, 1);
    }

    /** The step's dropout seed in the block, I64 [1]. */
    public Tensor seed() {
        return Tensor.wrap(requireBlock().data().asSlice(4L * SEED, 8), DType.I64, 1);
    }

    /**
     * The decay factor slot for a parameter updated with {@code slotHp}: the step's weight decay, or
     * none. Its betas must be the step's, which the step size and second-moment correction come from.
     */
    public Tensor decay(Backend.AdamW slotHp) {
        if (hp == null) throw new IllegalStateException("setUpdate was not called");
        if (slotHp.beta1() != hp.beta1() || slotHp.beta2() != hp.beta2()) {
            throw new IllegalArgumentException("a parameter's AdamW betas " + slotHp + " differ from the step's " + hp);
        }
        if (slotHp.weightDecay() == 0f) return scalar(NO_DECAY);
        if (slotHp.weightDecay() == hp.weightDecay()) return scalar(DECAY);
        throw new IllegalArgumentException("a parameter's weight decay " + slotHp.weightDecay()
                + " is neither 0 nor the step's " + hp.weightDecay());
    }

    private Tensor requireBlock() {
        if (block == null) throw new IllegalStateException("these step scalars are held on the host: there is no block to launch with");
        return block;
    }

    public float gradScale() {
        return gradScale;
    }

    public float lr() {
        return lr;
    }

    public int step() {
        return step;
    }

    public long dropoutSeed() {
        return dropoutSeed;
    }

    /** Adds loss terms computed on the host to the step's loss sum. */
    public void addHostLoss(double sum) {
        hostLoss += sum;
    }

    /** The part of the loss sum added on the host (NaN shows a diverged loss before the update). */
    public double hostLoss() {
        return hostLoss;
    }

    /**
     * torch's clip_grad_norm_ coefficient for a global norm: {@code maxNorm / (norm + 1e-6)} when the
     * norm is above {@code maxNorm > 0}, else 1.
     */
    public static float clipFactor(double norm, float maxNorm) {
        return maxNorm > 0 && norm > maxNorm ? (float) (maxNorm / (norm + 1e-6)) : 1f;
    }

    /** The host's gradient norm (as a sum of squares) and clip factor; a non-finite norm or loss skips the update. */
    void setHostNorm(double sumSq, float maxNorm) {
        hostNorm(hostLoss, sumSq, maxNorm);
    }

    /**
     * The gradient norm of an optimizer that updates on the host (offloaded): {@code sumSq} of all
     * gradients, taken there, with the step's whole loss sum {@code lossSum} read back; sets the clip
     * factor for {@code maxNorm} and whether the update is skipped, and {@link #read} reports this norm.
     */
    public void setOffloadedNorm(double lossSum, double sumSq, float maxNorm) {
        hostNorm(lossSum, sumSq, maxNorm);
        normOnHost = true;
    }

    private void hostNorm(double lossSum, double sumSq, float maxNorm) {
        hostSumSq = sumSq;
        double norm = Math.sqrt(sumSq);
        hostSkips = !Double.isFinite(norm) || !Double.isFinite(lossSum);
        hostClip = clipFactor(norm, maxNorm);
    }

    /** The clip factor of the host's norm ({@link #setOffloadedNorm}, or a backend's default clipping). */
    public float hostClip() {
        return hostClip;
    }

    /** Whether the host's norm or loss was not finite, so the update changes nothing. */
    public boolean hostSkips() {
        return hostSkips;
    }

    @Override
    public void close() {
        if (arena != null) arena.close();
    }
}
