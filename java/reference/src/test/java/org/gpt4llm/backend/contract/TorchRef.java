package org.gpt4llm.backend.contract;

import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorArrayRefOptional;
import org.bytedeco.pytorch.global.torch;
import org.gpt4llm.reference.Torch;

/** libtorch leaves and backward passes for the references of the contract tests. */
public final class TorchRef {
    private TorchRef() {}

    /** A float32 leaf that records gradients. */
    public static Tensor leaf(float[] v, long... shape) {
        Tensor t = Torch.floats(v, shape);
        t.requires_grad_(true);
        return t;
    }

    /**
     * A float64 leaf that records gradients: a reference computed in float64 carries no rounding of
     * its own, so what is measured is the backend's error alone.
     */
    public static Tensor leaf64(float[] v, long... shape) {
        Tensor t = Torch.floats(v, shape).to(torch.ScalarType.Double);
        t.requires_grad_(true);
        return t;
    }

    /** v as a float64 constant. */
    public static Tensor f64(float[] v, long... shape) {
        return Torch.floats(v, shape).to(torch.ScalarType.Double);
    }

    /** Backpropagates {@code upstream} (same shape as {@code out}, converted to its dtype) through libtorch's graph. */
    public static void backward(Tensor out, float[] upstream) {
        out.backward(Torch.floats(upstream, out.shape()).to(out.scalar_type()), new BoolOptional(), false,
                new TensorArrayRefOptional());
    }
}
