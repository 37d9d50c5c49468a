package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.Locale;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.tensor.DType;
import picocli.CommandLine.Option;

/**
 * {@code --dtype}: the type the backend keeps the model's weights in. On the cpu, bf16 or f16 halves the
 * memory and the bytes each decoded token reads; such weights only run frozen (inference, a LoRA base).
 */
final class WeightTypeFlag {
    @Option(names = "--dtype", description = "keep the weights in f32, bf16 or f16 (the cuda backends keep bf16);"
            + " default: the checkpoint's own")
    String dtype;

    /** {@code value} of flag {@code flag} as a floating type, or one sentence naming what is wrong. */
    static DType parse(String flag, String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "f32", "float32", "fp32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            case "f16", "float16", "fp16" -> DType.F16;
            default -> throw new IllegalArgumentException(flag + " " + value + " is not f32, bf16 or f16");
        };
    }

    /**
     * The weight type for running the checkpoint in {@code modelDir} frozen on {@code backend}: --dtype,
     * else on the cpu the checkpoint's own (its safetensors' type), else null (the backend's own).
     */
    DType frozen(String backend, Path modelDir) {
        if (dtype != null) return parse("--dtype", dtype);
        return backend.equalsIgnoreCase("cpu") ? Checkpoint.storedType(modelDir) : null;
    }

    /**
     * The weight type for training the checkpoint in {@code modelDir}: {@link #frozen} under LoRA adapters;
     * for full fine-tuning the cpu keeps fp32 (a half-precision --dtype is refused), a GPU its own.
     */
    DType training(String backend, Path modelDir, boolean lora) {
        if (lora) return frozen(backend, modelDir);
        if (dtype == null) return backend.equalsIgnoreCase("cpu") ? DType.F32 : null;
        DType t = parse("--dtype", dtype);
        if (t != DType.F32 && backend.equalsIgnoreCase("cpu")) {
            throw new IllegalArgumentException("--dtype " + dtype + " keeps the weights frozen on the cpu: full"
                    + " fine-tuning needs --dtype f32, or give --lora-rank to train adapters over a " + dtype + " base");
        }
        return t;
    }
}
