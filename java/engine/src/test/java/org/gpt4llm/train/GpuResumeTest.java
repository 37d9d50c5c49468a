package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.StepScalars;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * On the cuda backend, where the weights are bf16 and the optimizer keeps fp32 masters, a run that
 * dies after a checkpoint and is resumed ends with the same weights, optimizer state and metrics, byte
 * for byte, as a run that was never stopped: full fine-tuning and LoRA, with the optimizer on the
 * device and offloaded to the host, the process dying inside a step or killed with SIGKILL. A
 * checkpoint written before masters were saved still resumes, with a one-line warning.
 *
 * <p>The emulation runs with one worker thread: kernels that sum with atomics (the norm weights'
 * gradients, the global norm) add in the order their blocks run, which with several workers, as on a
 * GPU, differs from run to run, so that not even two uninterrupted runs agree bit for bit.
 */
class GpuResumeTest {
    private static final int STEPS = 10, DIE_AT = 7;

    @TempDir
    Path tmp;

    static Stream<Arguments> cases() {
        return Stream.of("full", "lora").flatMap(kind -> Stream.of(false, true).map(offload -> Arguments.of(kind, offload)));
    }

    /** The emulation, deterministic: one worker thread runs every block in order. */
    private static CudaBackend emulation() {
        return new CudaBackend(new EmuDevice(1));
    }

    static TrainConfig config(Path out, boolean offload, boolean resume) {
        return Synthetic.builder(out).maxSteps(STEPS).saveEvery(4).keep(0).offloadOptimizer(offload).resume(resume)
                .build().validate();
    }

    @ParameterizedTest(name = "{0}, offload {1}")
    @MethodSource("cases")
    void aRunThatDiesAfterACheckpointResumesBitIdentically(String kind, boolean offload) throws IOException {
        long seed = TestSeeds.next();
        Path whole = tmp.resolve("whole"), died = tmp.resolve("died");
        try (CudaBackend cuda = emulation()) {
            train(cuda, kind, seed, config(whole, offload, false), -1);
            assertThrows(IllegalStateException.class, () -> train(cuda, kind, seed, config(died, offload, false), DIE_AT));
            assertFalse(Files.exists(died.resolve("final")));
            train(cuda, kind, seed, config(died, offload, true), -1);
        }
        String ctx = kind + ", offload " + offload + " (seed " + seed + ")";
        assertSameTensors(whole.resolve("checkpoint-8"), died.resolve("checkpoint-8"), ctx);
        assertSameTensors(whole.resolve("final"), died.resolve("final"), ctx);
        assertEquals(withoutTimings(whole), withoutTimings(died), ctx);
        try (Arena a = Arena.ofConfined()) {
            SafeTensors opt = SafeTensors.open(whole.resolve("checkpoint-8/optimizer.safetensors"), a);
            assertTrue(opt.names().stream().anyMatch(n -> n.startsWith(OptimizerStateNames.MASTER)), ctx + ": masters saved");
        }
    }

    @Test
    void aCheckpointWithoutMastersResumesWithAWarning() throws IOException {
        long seed = TestSeeds.next();
        Path died = tmp.resolve("died");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (CudaBackend cuda = emulation()) {
            assertThrows(IllegalStateException.class, () -> train(cuda, "full", seed, config(died, false, false), DIE_AT));
            Path opt = died.resolve("checkpoint-4/optimizer.safetensors");
            dropMasters(opt);
            try (var m = DecoderModels.initRandom(cuda, Synthetic.TINY, seed)) {
                new Trainer<>(config(died, false, true), DeviceSteps.trainable(m, "full", seed + 1), Synthetic.counting(64, 1),
                        Synthetic.counting(16, 2), true, new PrintStream(log, true, StandardCharsets.UTF_8)).run();
            }
        }
        String out = log.toString(StandardCharsets.UTF_8);
        assertEquals(1, out.lines().filter(l -> l.startsWith("warning:") && l.contains("no fp32 master weights")).count(), out);
        assertTrue(Files.isRegularFile(died.resolve("final/model.safetensors")));
    }

    /** The child process of the SIGKILL test: {@code args[0]} the run folder, {@code args[1]} the seed. */
    public static void main(String[] args) throws IOException {
        try (CudaBackend cuda = emulation()) {
            train(cuda, "full", Long.parseLong(args[1]), config(Path.of(args[0]), true, false), -1);
        }
    }

    @Test
    void anOffloadedRunKilledWithSigkillResumesBitIdentically() throws Exception {
        long seed = TestSeeds.next();
        Path killed = tmp.resolve("killed"), whole = tmp.resolve("whole");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                GpuResumeTest.class.getName(), killed.toString(), Long.toString(seed))
                .redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (p.isAlive() && !Files.isDirectory(killed.resolve("checkpoint-4")) && System.nanoTime() < deadline) Thread.sleep(5);
        assertTrue(p.isAlive(), "the training process ended before it could be killed: " + Files.readString(tmp.resolve("child.log")));
        p.destroyForcibly().waitFor(); // SIGKILL
        assertFalse(Files.exists(killed.resolve("final")), "killed before the end");
        try (CudaBackend cuda = emulation()) {
            train(cuda, "full", seed, config(killed, true, true), -1);
            train(cuda, "full", seed, config(whole, true, false), -1);
        }
        assertSameTensors(whole.resolve("final"), killed.resolve("final"), "seed " + seed);
        assertEquals(withoutTimings(whole), withoutTimings(killed), "seed " + seed);
    }

    /** Trains {@code kind} of a model initialised from {@code seed}; dies as the process would at step {@code dieAt} (none: -1). */
    private static void train(Backend be, String kind, long seed, TrainConfig cfg, int dieAt) throws IOException {
        try (var m = DecoderModels.initRandom(be, Synthetic.TINY, seed)) {
            TrainableModel<TokenBatch> t = DeviceSteps.trainable(m, kind, seed + 1);
            new Trainer<>(cfg, dieAt < 0 ? t : new Dying(t, dieAt), Synthetic.counting(64, 1), Synthetic.counting(16, 2), true,
                    new PrintStream(OutputStream.nullOutputStream())).run();
        }
    }

    /** Rewrites {@code file} without its master.* tensors, as checkpoints were written before masters were saved. */
    private static void dropMasters(Path file) throws IOException {
        try (Arena copies = Arena.ofConfined()) {
            Map<String, Tensor> kept = new LinkedHashMap<>();
            Map<String, String> meta;
            try (Arena mapped = Arena.ofConfined()) {
                SafeTensors st = SafeTensors.open(file, mapped);
                meta = st.metadata();
                for (String n : st.names()) {
                    if (n.startsWith(OptimizerStateNames.MASTER)) continue;
                    Tensor t = st.tensor(n), c = Tensor.allocate(copies, t.dtype(), t.shape());
                    c.copyFrom(t);
                    kept.put(n, c);
                }
            }
            assertTrue(kept.size() < Files.size(file), "masters dropped");
            Files.delete(file);
            SafeTensors.write(file, kept, meta);
        }
    }

    /** Every .safetensors file of {@code a} equals the one of {@code b}, byte for byte. */
    private static void assertSameTensors(Path a, Path b, String ctx) throws IOException {
        List<Path> files;
        try (Stream<Path> s = Files.list(a)) {
            files = s.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().toList();
        }
        assertFalse(files.isEmpty(), a + " holds tensors");
        for (Path f : files) {
            assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(b.resolve(f.getFileName())), ctx + ": " + a.relativize(f));
        }
    }

    private static List<String> withoutTimings(Path run) throws IOException {
        return Files.readAllLines(run.resolve(Trainer.METRICS)).stream()
                .map(l -> l.replaceAll("\"tokens_per_s\":[0-9.eE+-]+,?", "")).toList();
    }

    /** Delegates to a model, throwing at the start of step {@code dieAt} as if the process died there. */
    private record Dying(TrainableModel<TokenBatch> inner, int dieAt, int[] step) implements TrainableModel<TokenBatch> {
        Dying(TrainableModel<TokenBatch> inner, int dieAt) {
            this(inner, dieAt, new int[1]);
        }

        @Override
        public Backend backend() {
            return inner.backend();
        }

        @Override
        public float forward(TokenBatch batch) {
            return inner.forward(batch);
        }

        @Override
        public void backward(float gradScale) {
            inner.backward(gradScale);
        }

        @Override
        public void zeroGrad() {
            if (++step[0] == dieAt) throw new IllegalStateException("died at step " + dieAt);
            inner.zeroGrad();
        }

        @Override
        public void stage(List<TokenBatch> micro) {
            inner.stage(micro);
        }

        @Override
        public void forward(TokenBatch batch, int slot, StepScalars s) {
            inner.forward(batch, slot, s);
        }

        @Override
        public void backward(StepScalars s) {
            inner.backward(s);
        }

        @Override
        public boolean queuesOnly() {
            return inner.queuesOnly();
        }

        @Override
        public boolean onGradientsDone(java.util.function.IntConsumer hook) {
            return inner.onGradientsDone(hook);
        }

        @Override
        public boolean streamGradients() {
            return inner.streamGradients();
        }

        @Override
        public long bufferGeneration() {
            return inner.bufferGeneration();
        }

        @Override
        public Map<String, Tensor> trainableParameters() {
            return inner.trainableParameters();
        }

        @Override
        public Map<String, Tensor> trainableGradients() {
            return inner.trainableGradients();
        }

        @Override
        public boolean decays(String name) {
            return inner.decays(name);
        }

        @Override
        public void setTraining(boolean training) {
            inner.setTraining(training);
        }

        @Override
        public void setDropoutSeed(long seed) {
            inner.setDropoutSeed(seed);
        }

        @Override
        public Map<String, Double> evaluate(Iterable<TokenBatch> batches) {
            return inner.evaluate(batches);
        }

        @Override
        public void save(Path dir) throws IOException {
            inner.save(dir);
        }

        @Override
        public void saveAsRank(Path dir, int rank, int ranks) throws IOException {
            inner.saveAsRank(dir, rank, ranks);
        }

        @Override
        public void restore(Path dir) throws IOException {
            inner.restore(dir);
        }
    }
}
