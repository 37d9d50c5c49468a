package org.gpt4llm.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.plan.MemoryPlan;
import org.gpt4llm.plan.MemoryPlanner;
import org.gpt4llm.plan.PlanRequest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code gpt4llm plan}: the memory a training run needs, by category, before it is launched, and on
 * several devices the bytes each sends in a step.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Print the device and host memory a training run needs, by category (weights, gradients, "
                + "master weights, moments, activations, workspace, logits), and whether it fits --gpu-memory. "
                + "The figures come from building the run's model, buffers and optimizer on a backend that only "
                + "counts: the same allocations a run makes and its peak_device_bytes measures. With --gpus, also the "
                + "bytes each device sends in an optimizer step, as bench step --gpus measures them.")
public final class PlanCommand implements Callable<Integer> {
    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?",
            Pattern.CASE_INSENSITIVE);

    @Parameters(index = "0", paramLabel = "MODEL",
            description = "a model folder (with config.json) or a LLaMA preset: tiny, demo, small or 7b")
    String model;

    @Option(names = "--vocab", defaultValue = "32000", description = "vocabulary of a preset (default: ${DEFAULT-VALUE})")
    int vocab;

    @Option(names = "--seq-len", defaultValue = "512", description = "tokens per row (default: ${DEFAULT-VALUE})")
    int seqLen;

    @Option(names = "--micro-batch", defaultValue = "4", description = "rows per forward and backward (default: ${DEFAULT-VALUE})")
    int microBatch;

    @Option(names = {"--lora-rank", "--lora-r"}, defaultValue = "0",
            description = "plan LoRA adapters of this rank instead of full fine-tuning (0: full) (default: ${DEFAULT-VALUE})")
    int loraRank;

    @Option(names = "--lora-targets", split = ",", description = "modules to adapt (default q_proj,v_proj)")
    List<String> loraTargets;

    @Option(names = "--lora-dropout", defaultValue = "0.05", description = "dropout on the LoRA input: a GPU keeps scratch for its mask (default: ${DEFAULT-VALUE})")
    double loraDropout;

    @Option(names = "--recompute", description = "recompute each layer in the backward: keep only the layers' inputs and one layer's activations")
    boolean recompute;

    @Option(names = "--offload-optimizer", description = "master weights, moments and gradients in host memory, the update on the CPU")
    boolean offloadOptimizer;

    @Option(names = "--gpus", defaultValue = "1", description = "devices of a data-parallel run: the figures are then"
            + " one device's (default: ${DEFAULT-VALUE})")
    int gpus;

    @Option(names = "--zero", defaultValue = "0", description = "ZeRO stage with several devices: 0 all-reduces gradients,"
            + " 1 shards the optimizer state, 2 also the gradients' sums, 3 also the weights, by layer"
            + " (default: ${DEFAULT-VALUE})")
    int zero;

    @Option(names = "--batch", description = "rows of an optimizer step over all devices, as sft's --batch: the"
            + " micro-batches beyond one per device accumulate (default: --micro-batch x --gpus)")
    Integer batch;

    @Mixin
    BackendFlags backend = new BackendFlags();

    @Option(names = "--gpu-memory", description = "device memory to fit in, e.g. 40GiB, 24GiB or 80GB; without it nothing is judged")
    String gpuMemory;

    @Option(names = "--json", description = "print the plan as JSON instead of a table")
    boolean json;

    @Override
    public Integer call() throws Exception {
        long budget = gpuMemory == null ? 0 : parseBytes(gpuMemory, "--gpu-memory");
        String backendName = backend.given() != null ? backend.given() : "cuda";
        if (batch != null && batch < 1) throw new IllegalArgumentException("--batch must be positive, got " + batch);
        PlanRequest r = batch == null
                ? new PlanRequest(config(), backendName, seqLen, microBatch, lora(), recompute, offloadOptimizer, gpus, zero)
                : new PlanRequest(config(), backendName, seqLen, microBatch, lora(), recompute, offloadOptimizer, gpus, zero,
                        batch);
        MemoryPlan plan = MemoryPlanner.plan(r);
        if (json) {
            System.out.println(plan.toJson(budget).toPrettyString());
        } else {
            System.out.print(table(plan, budget));
        }
        return 0;
    }

    private ModelConfig config() throws java.io.IOException {
        Path dir = Path.of(model);
        if (Files.isDirectory(dir)) {
            Path json = dir.resolve("config.json");
            if (!Files.isRegularFile(json)) throw new IllegalArgumentException("MODEL " + model + " is a folder without config.json");
            return ModelConfig.read(json);
        }
        try {
            return LlamaConfig.preset(model, vocab);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("MODEL " + model + " is neither a model folder nor a preset (tiny, demo, small or 7b)");
        }
    }

    private LoraConfig lora() {
        if (loraRank < 0) throw new IllegalArgumentException("--lora-rank must not be negative, got " + loraRank);
        if (loraRank == 0) return null;
        List<String> targets = loraTargets != null ? loraTargets : List.of("q_proj", "v_proj");
        return new LoraConfig(loraRank, 16f, (float) loraDropout, targets);
    }

    /** The plan as a table: one row per category, device and host in GiB, and the verdict. */
    static String table(MemoryPlan plan, long budget) {
        PlanRequest r = plan.request();
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "%s %d layers, hidden %d, vocab %d on %s: %s, %d x %d tokens%s%s%n",
                r.model().modelType(), r.model().numLayers(), r.model().hiddenSize(), r.model().vocabSize(),
                r.backend(), r.lora() == null ? "full fine-tuning" : "LoRA r" + r.lora().rank() + " on "
                        + String.join(",", r.lora().targets()), r.microBatch(), r.seqLen(),
                r.recompute() ? ", recompute" : "", r.offloadOptimizer() ? ", optimizer offloaded" : ""));
        if (r.parallel()) {
            s.append(String.format(Locale.ROOT, "per device of %d, ZeRO %d, batch %d: %d micro-batch%s per device and step%n",
                    r.gpus(), r.zero(), r.batch(), r.microBatchesPerDevice(), r.microBatchesPerDevice() == 1 ? "" : "es"));
        }
        s.append(String.format(Locale.ROOT, "%-16s %12s %12s%n", "category", "device GiB", "host GiB"));
        for (MemoryCategory c : MemoryCategory.values()) {
            s.append(String.format(Locale.ROOT, "%-16s %12.2f %12.2f%n", c.key(), gib(plan.footprint().device(c)),
                    gib(plan.footprint().host(c))));
        }
        s.append(String.format(Locale.ROOT, "%-16s %12.2f %12.2f%n", "total", gib(plan.deviceBytes()), gib(plan.hostBytes())));
        if (r.parallel()) s.append(traffic(plan));
        if (budget > 0) {
            s.append(String.format(Locale.ROOT, "%s %.2f GiB of device memory (%d bytes)%n",
                    plan.fits(budget) ? "fits in" : "does not fit in", gib(budget), budget));
        }
        return s.toString();
    }

    /**
     * The bytes a device sends in a step, as a ring moves them: below ZeRO 3 once a step, after the last
     * micro-batch, whatever the accumulation; ZeRO 3 also gathers and reduce-scatters its layers in every pass.
     */
    private static String traffic(MemoryPlan plan) {
        long sent = plan.bytesSentPerStep(), perPass = plan.traffic().perMicroBatch();
        int passes = plan.request().microBatchesPerDevice();
        String how = perPass == 0
                ? "all once, after the last micro-batch (the same with any accumulation)"
                : String.format(Locale.ROOT, "%,d in each of its %d micro-batch%s (the layers' gathers and reduce-scatters)"
                        + " and %,d once", perPass, passes, passes == 1 ? "" : "es", plan.traffic().oncePerStep());
        return String.format(Locale.ROOT, "sent per device and step: %,d bytes (%.2f GiB), %s%n", sent, gib(sent), how);
    }

    static double gib(long bytes) {
        return bytes / (double) (1L << 30);
    }

    /** "40GiB", "80GB", "1.5TiB" or plain bytes; anything else is one sentence naming the flag. */
    static long parseBytes(String text, String flag) {
        Matcher m = SIZE.matcher(text.strip());
        if (!m.matches()) {
            throw new IllegalArgumentException(flag + " " + text + " is not a size such as 40GiB, 80GB or 25769803776");
        }
        double n = Double.parseDouble(m.group(1));
        String unit = m.group(2) == null ? "B" : m.group(2).toUpperCase(Locale.ROOT);
        long scale = switch (unit) {
            case "KB" -> 1_000L;
            case "MB" -> 1_000_000L;
            case "GB" -> 1_000_000_000L;
            case "TB" -> 1_000_000_000_000L;
            case "KIB" -> 1L << 10;
            case "MIB" -> 1L << 20;
            case "GIB" -> 1L << 30;
            case "TIB" -> 1L << 40;
            default -> 1L;
        };
        double bytes = n * scale;
        if (!(bytes >= 1) || bytes > Long.MAX_VALUE) throw new IllegalArgumentException(flag + " " + text + " is not a positive size");
        return (long) bytes;
    }
}
