package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model, reward model or adapter file with a NaN or infinite weight is refused in one sentence
 * naming the file, the tensor and the first bad element, found while the values are copied onto the
 * backend.
 */
class NonFiniteWeightsTest {
    private static final LlamaConfig TINY = LlamaConfig.builder().hiddenSize(32).intermediateSize(64).numLayers(2)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(40).maxPositionEmbeddings(64).build();
    private static CpuBackend cpu;

    @TempDir
    Path tmp;

    @BeforeAll
    static void open() {
        cpu = new CpuBackend(2);
    }

    @AfterAll
    static void close() {
        cpu.close();
    }

    /** The weights of a random TINY model, as host tensors of {@code dtype}. */
    private Map<String, Tensor> weights(Arena arena, DType dtype) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        try (DecoderModel m = DecoderModels.initRandom(cpu, TINY, TestSeeds.next())) {
            m.parameters().forEach((name, p) -> out.put(name, Checkpoint.fromF32(cpu.toHost(p, arena), dtype, arena)));
        }
        return out;
    }

    private static void save(Path dir, Map<String, Tensor> weights, long shardBytes) throws Exception {
        Checkpoint.save(dir, weights, shardBytes);
        TINY.write(dir.resolve("config.json"), DType.F32);
    }

    @Test
    void aNanInAModelFileIsRefusedNamingTheFileTensorAndElement() throws Exception {
        Random r = TestSeeds.random();
        Path dir = tmp.resolve("nan");
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> w = weights(arena, DType.F32);
            String name = pick(w, r);
            Tensor t = w.get(name);
            long at = r.nextLong(t.numel());
            t.setFloat(at, Float.NaN);
            if (at + 1 < t.numel()) t.setFloat(at + 1 + r.nextLong(t.numel() - at - 1), Float.POSITIVE_INFINITY);
            save(dir, w, Long.MAX_VALUE);
            var e = assertThrows(CheckpointException.class, () -> DecoderModels.load(cpu, dir));
            assertEquals(dir.resolve("model.safetensors") + ": tensor " + name + " holds NaN at element " + at + " ("
                    + Arrays.toString(index(t.shape(), at)) + " of shape " + Arrays.toString(t.shape()) + "); a model with"
                    + " NaN or infinite weights cannot be used", e.getMessage());
        }
    }

    @Test
    void infinitiesInHalfPrecisionShardsAreRefusedNamingTheShard() throws Exception {
        Random r = TestSeeds.random();
        for (DType dtype : List.of(DType.BF16, DType.F16)) {
            Path dir = tmp.resolve("inf-" + dtype);
            try (Arena arena = Arena.ofConfined()) {
                Map<String, Tensor> w = weights(arena, dtype);
                String name = pick(w, r);
                Tensor t = w.get(name);
                long at = r.nextLong(t.numel());
                boolean negative = r.nextBoolean();
                t.data().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, at,
                        dtype == DType.BF16 ? (short) (negative ? 0xff80 : 0x7f80) : (short) (negative ? 0xfc00 : 0x7c00));
                save(dir, w, 4096); // several shards: the message names the one that holds the tensor
                Path shard = Checkpoint.fileOf(dir, name);
                assertEquals(true, shard.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors"), shard.toString());
                var e = assertThrows(CheckpointException.class, () -> DecoderModels.load(cpu, dir));
                assertEquals(shard + ": tensor " + name + " holds " + (negative ? "-Infinity" : "+Infinity") + " at element "
                        + at + " (" + Arrays.toString(index(t.shape(), at)) + " of shape " + Arrays.toString(t.shape())
                        + "); a model with NaN or infinite weights cannot be used", e.getMessage(), dtype.toString());
                // the reward-model loader reads the same backbone, not the LM head it drops
                if (name.equals("lm_head.weight")) {
                    RewardModel.load(cpu, dir, 1, 0).close();
                } else {
                    var rm = assertThrows(CheckpointException.class, () -> RewardModel.load(cpu, dir, 1, 0));
                    assertEquals(e.getMessage(), rm.getMessage());
                }
            }
        }
    }

    @Test
    void aNanInAnAdapterIsRefusedNamingTheAdapterFile() throws Exception {
        Random r = TestSeeds.random();
        Path adapter = tmp.resolve("adapter");
        try (DecoderModel m = DecoderModels.initRandom(cpu, TINY, TestSeeds.next())) {
            m.enableLora(new LoraConfig(4, 8f, 0f, List.of("q_proj", "v_proj")), TestSeeds.next());
            m.saveAdapter(adapter, "base");
        }
        Path file = adapter.resolve("adapter_model.safetensors");
        String name;
        long at;
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            SafeTensors.open(file, arena).tensors().forEach((k, t) -> w.put(k, Checkpoint.toF32(t, arena)));
            name = pick(w, r);
            at = r.nextLong(w.get(name).numel());
            w.get(name).setFloat(at, Float.NaN);
            SafeTensors.write(file, w, Map.of("format", "pt"));
        }
        try (DecoderModel m = DecoderModels.initRandom(cpu, TINY, TestSeeds.next())) {
            var e = assertThrows(CheckpointException.class, () -> m.loadAdapter(adapter));
            assertEquals(true, e.getMessage().startsWith(file + ": tensor " + name + " holds NaN at element " + at + " ("),
                    e.getMessage());
        }
    }

    /** The CUDA backend (on the emulated device) checks while it stages the upload, and uploads the same values. */
    @Test
    void theCudaBackendChecksWhileItStagesTheUpload() throws Exception {
        Random r = TestSeeds.random();
        Path clean = tmp.resolve("clean"), broken = tmp.resolve("broken");
        try (Arena arena = Arena.ofConfined();
             CudaBackend emu = new CudaBackend(new EmuDevice())) {
            Map<String, Tensor> w = weights(arena, DType.BF16);
            save(clean, w, Long.MAX_VALUE);
            try (DecoderModel m = DecoderModels.load(emu, clean)) {
                for (var e : m.parameters().entrySet()) {
                    float[] want = w.get(e.getKey()).toFloatArray(), got = emu.download(e.getValue());
                    assertEquals(0, Arrays.compare(want, got), e.getKey() + ": the values as the file holds them");
                }
            }
            String name = pick(w, r);
            long at = r.nextLong(w.get(name).numel());
            w.get(name).data().setAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT, at, (short) 0x7fc0); // bf16 NaN
            save(broken, w, Long.MAX_VALUE);
            var e = assertThrows(CheckpointException.class, () -> DecoderModels.load(emu, broken));
            assertEquals(true, e.getMessage().startsWith(broken.resolve("model.safetensors") + ": tensor " + name
                    + " holds NaN at element " + at + " ("), e.getMessage());
        }
    }

    /**
     * The conversion that checks: the same bits as the plain conversion, and the first non-finite
     * element of the input, for every pair of types, on one thread's sizes and the parallel ones.
     */
    @Test
    void convertingFindsTheFirstNonFiniteValueAndConvertsAsBefore() {
        Random r = TestSeeds.random();
        List<DType> types = List.of(DType.F32, DType.BF16, DType.F16);
        for (long n : new long[] {1, 7, 4097, 100_003}) {
            for (DType from : types) {
                for (DType to : types) {
                    if (from != to && from != DType.F32 && to != DType.F32) continue;
                    try (Arena arena = Arena.ofConfined()) {
                        float[] v = new float[(int) n];
                        for (int i = 0; i < n; i++) v[i] = (float) r.nextGaussian() * 3;
                        int bad = r.nextInt(3);
                        for (int k = 0; k < bad; k++) {
                            v[r.nextInt((int) n)] = switch (r.nextInt(3)) {
                                case 0 -> Float.NaN;
                                case 1 -> Float.POSITIVE_INFINITY;
                                default -> Float.NEGATIVE_INFINITY;
                            };
                        }
                        Tensor src = Checkpoint.fromF32(Tensor.of(arena, v, n), from, arena);
                        long expected = -1;
                        for (long i = 0; i < n && expected < 0; i++) if (!Float.isFinite(src.getFloat(i))) expected = i;
                        Tensor want = Tensor.allocate(arena, to, n), got = Tensor.allocate(arena, to, n);
                        CpuBackend.convertOnHost(want, src);
                        String what = n + " " + from + " -> " + to;
                        assertEquals(expected, CpuKernels.convertFinite(got.data(), to, src.data(), from, n), what);
                        assertEquals(-1, want.data().mismatch(got.data()), what + ": the converted bits");
                    }
                }
            }
        }
    }

    private static String pick(Map<String, Tensor> w, Random r) {
        List<String> names = new ArrayList<>(w.keySet());
        return names.get(r.nextInt(names.size()));
    }

    private static long[] index(long[] shape, long flat) {
        long[] at = new long[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            at[d] = flat % shape[d];
            flat /= shape[d];
        }
        return at;
    }
}
