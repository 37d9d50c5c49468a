package org.gpt4llm.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.tensor.Tensor;

/**
 * The linear layers and norms of a {@link DecoderModel}, forward and backward: y = x Wᵀ + b with the
 * LoRA adapter's {@code + (alpha/r) (dropout(x) Aᵀ) Bᵀ}, RMSNorm or LayerNorm, and the gradients of the
 * weights that train. The model's passes (training, recomputation, KV-cache decoding) share them; each
 * pass says how it runs the adapters in an {@link AdapterPass}.
 */
final class LayerOps {
    /** A norm's weight (and bias, LayerNorm only; null for RMSNorm); {@code name} is its module's. */
    record Norm(String name, Tensor w, Tensor b) {}

    /** A linear layer, y = x Wᵀ (+ b); {@code target} is its index in {@link ModelConfig#linearTargets}. */
    record Linear(int target, String name, Tensor w, Tensor b) {}

    /** The weights of one decoder layer: the MLP's linear layers are gate, up, down or fc1, fc2. */
    record Layer(Norm attnNorm, Linear q, Linear k, Linear v, Linear o, Norm mlpNorm, List<Linear> mlp) {}

    /**
     * How a pass runs the adapters: {@code lora} (null: none, or switched off), with dropout or not, the
     * masks' seed and the training step's scalars (null outside a step). A backward runs as its forward ran.
     */
    record AdapterPass(LoraAdapters lora, boolean training, long seed, StepScalars step) {
        /** Evaluation: the adapters (if any) without dropout, outside a training step. */
        static AdapterPass evaluation(LoraAdapters lora) {
            return new AdapterPass(lora, false, 0, null);
        }
    }

    private final Backend backend;
    private final ModelConfig cfg;
    private final Gradients gradients;

    LayerOps(Backend backend, ModelConfig cfg, Gradients gradients) {
        this.backend = backend;
        this.cfg = cfg;
        this.gradients = gradients;
    }

    /** Layer l's weights among {@code params} (HF names). */
    static Layer layer(ModelConfig cfg, Map<String, Tensor> params, int l) {
        List<Linear> mlp = new ArrayList<>();
        for (int t = DecoderLayout.MLP_TARGETS; t < cfg.linearTargets().size(); t++) mlp.add(linear(cfg, params, l, t));
        String p = cfg.decoderPrefix() + "layers." + l + ".";
        return new Layer(norm(params, p + cfg.blockNames().get(0)), linear(cfg, params, l, 0), linear(cfg, params, l, 1),
                linear(cfg, params, l, 2), linear(cfg, params, l, 3),
                norm(params, p + cfg.blockNames().get(DecoderLayout.MLP_TARGETS + 1)), mlp);
    }

    /** The norm module {@code name} among {@code params}. */
    static Norm norm(Map<String, Tensor> params, String name) {
        return new Norm(name, params.get(name + ".weight"), params.get(name + ".bias"));
    }

    private static Linear linear(ModelConfig cfg, Map<String, Tensor> params, int layer, int target) {
        String name = DecoderLayout.linearName(cfg, layer, target);
        return new Linear(target, name, params.get(name + ".weight"), params.get(name + ".bias"));
    }

    /** q, k, v [n, ·] of a layer from its normed input x, rotated at {@code positions} (rotary families). */
    void qkvForward(int l, Layer w, Tensor q, Tensor k, Tensor v, Tensor x, Tensor positions, Tensor ones, int n,
                    AdapterPass pass) {
        linearsForward(l, new Linear[] {w.q, w.k, w.v}, new Tensor[] {q, k, v}, x, ones, n, pass);
        if (!cfg.learnedPositions()) {
            backend.ropeForward(q, positions, cfg.numHeads(), cfg.headDim(), cfg.ropeTheta());
            backend.ropeForward(k, positions, cfg.numKvHeads(), cfg.headDim(), cfg.ropeTheta());
        }
    }

    /**
     * The MLP's hidden layer h [n, F] from its normed input x: silu(gate·x) * (up·x), or relu(fc1·x);
     * g (and u, SwiGLU only) keep the projections the backward needs.
     */
    void mlpHidden(int l, Layer w, Tensor h, Tensor g, Tensor u, Tensor x, Tensor ones, int n, AdapterPass pass) {
        if (cfg.gatedMlp()) {
            linearsForward(l, new Linear[] {w.mlp.get(0), w.mlp.get(1)}, new Tensor[] {g, u}, x, ones, n, pass);
            backend.swigluForward(h, g, u);
        } else {
            linearForward(l, w.mlp.get(0), g, x, ones, n, false, pass);
            backend.reluForward(h, g);
        }
    }

    /** y [n, out] = x Wᵀ + b (+ the adapter), or += with {@code accumulate}; {@code ones} [≥ n, 1] carries the bias. */
    void linearForward(int layer, Linear lin, Tensor y, Tensor x, Tensor ones, int n, boolean accumulate, AdapterPass pass) {
        backend.matmul(y, x, false, lin.w, true, 1f, accumulate ? 1f : 0f);
        biasAndAdapter(layer, lin, y, x, ones, n, pass);
    }

    /** ys[i] = x Wᵢᵀ + bᵢ (+ the adapter) for linears of one input: their weights in one backend call. */
    private void linearsForward(int layer, Linear[] lins, Tensor[] ys, Tensor x, Tensor ones, int n, AdapterPass pass) {
        Tensor[] ws = new Tensor[lins.length];
        for (int i = 0; i < lins.length; i++) ws[i] = lins[i].w;
        backend.matmulSharedInput(ys, x, ws);
        for (int i = 0; i < lins.length; i++) biasAndAdapter(layer, lins[i], ys[i], x, ones, n, pass);
    }

    /** y += the linear's bias and its adapter's x BᵀAᵀ, where it has them. */
    private void biasAndAdapter(int layer, Linear lin, Tensor y, Tensor x, Tensor ones, int n, AdapterPass pass) {
        // the bias as a rank-1 GEMM, ones [n, 1] · b [1, out]: every backend has it, no extra kernel
        if (lin.b != null) backend.matmul(y, ones.rows(0, n), false, lin.b.view(1, lin.b.numel()), false, 1f, 1f);
        if (pass.lora != null) {
            pass.lora.forward(layer, lin.target, y, x, n, pass.training, pass.seed, pass.training ? pass.step : null);
        }
    }

    /** dW += dyᵀ x and db += Σ_rows dy (unless frozen), dx = dy W (+= with {@code accumulate}), then the adapter's part. */
    void linearBackward(int layer, Linear lin, Tensor dx, Tensor dy, Tensor x, Tensor ones, int n, boolean accumulate,
                        AdapterPass pass) {
        Tensor dw = gradients.of(lin.name + ".weight"), db = lin.b == null ? null : gradients.of(lin.name + ".bias");
        if (dw != null) backend.matmul(dw, dy, true, x, false, 1f, 1f);
        if (db != null) backend.matmul(db.view(1, db.numel()), ones.rows(0, n), true, dy, false, 1f, 1f);
        backend.matmul(dx, dy, false, lin.w, false, 1f, accumulate ? 1f : 0f);
        if (pass.lora != null) pass.lora.backward(layer, lin.target, dx, dy, x, n, pass.training, pass.seed, pass.step);
    }

    /** y = norm(x), saving the mean (LayerNorm only) and 1/std the backward needs. */
    void normForward(Norm nm, Tensor y, Tensor mean, Tensor rstd, Tensor x) {
        if (cfg.layerNorm()) backend.layernormForward(y, mean, rstd, x, nm.w, nm.b, cfg.normEps());
        else backend.rmsnormForward(y, rstd, x, nm.w, cfg.normEps());
    }

    /**
     * dx += the norm's input gradient from dy; its weight (and bias) gradients accumulate, a frozen one's into
     * {@code discarded} [2 C] (the kernel computes them all the same).
     */
    void normBackward(Norm nm, Tensor dx, Tensor dy, Tensor x, Tensor mean, Tensor rstd, Tensor discarded) {
        Tensor dw = gradients.of(nm.name + ".weight"), db = nm.b == null ? null : gradients.of(nm.name + ".bias");
        long c = cfg.hiddenSize();
        if (dw == null) dw = discarded.rows(0, c);
        if (db == null && nm.b != null) db = discarded.rows(c, c);
        if (cfg.layerNorm()) backend.layernormBackward(dx, dw, db, dy, x, nm.w, mean, rstd);
        else backend.rmsnormBackward(dx, dw, dy, x, nm.w, rstd);
    }
}
