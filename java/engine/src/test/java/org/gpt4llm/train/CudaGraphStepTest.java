package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.Stream;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.backend.cuda.device.DeviceKind;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.data.BatchSource;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.Measurements;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code --cuda-graph} on each device kind: cuda-emu, whose graphs replay their work with the argument
 * values it was captured with, as CUDA's do, and the GPU where there is one. Steps replayed from one
 * captured step give the losses, gradient norms, weights and optimizer moments of eager launches
 * ({@link Agreement}: bit for bit in the emulation), although the learning rate, the bias
 * corrections, the LoRA dropout seed and the batch change every step; the same steps with those values
 * frozen at the captured step's (what a replay of values passed by value would compute) end elsewhere.
 * Steps of other shapes run eagerly with a note. The emulated runs use one worker.
 */
class CudaGraphStepTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * How closely two runs of the same steps agree on a device. The emulation adds its atomics in one
     * fixed order, so its runs agree bit for bit. A GPU's atomics (the norm kernels' weight gradients,
     * the attention backward's dq, the gradient norm's block sums) add in the order the blocks finish,
     * so two runs agree to fp32 rounding (~1e-7 relative per sum), which a few AdamW steps and the bf16
     * working copies carry on to ~1e-5: {@code scalars} bounds the relative difference of losses and
     * gradient norms, {@code tensors} that of weights and moments. A replay with stale values (the
     * learning rate 3x off, other dropout masks) ends 1e-2 and more away.
     */
    record Agreement(double scalars, double tensors) {
        static Agreement on(DeviceKind k) {
            return k == DeviceKind.CUDA_EMU ? new Agreement(0, 0) : new Agreement(1e-4, 1e-3);
        }

        boolean bitForBit() {
            return scalars == 0 && tensors == 0;
        }

        boolean same(double a, double b) {
            return bitForBit() ? Double.compare(a, b) == 0 : Math.abs(a - b) <= scalars * Math.abs(b);
        }

        boolean same(float[] a, float[] b) {
            return bitForBit() ? java.util.Arrays.equals(a, b) : Numerics.relErr(a, b) <= tensors;
        }
    }

    @TempDir
    Path tmp;

    /** What a run ended with: every step's loss and gradient norm, the trainable weights and moments. */
    private record Run(List<Double> losses, List<Double> norms, Map<String, float[]> state, int captures, int replays,
                       List<String> notes) {}

    private static Run train(DeviceKind device, String kind, long seed, boolean graph, IntFunction<List<TokenBatch>> steps,
                             int count, boolean frozenFromStep2) {
        List<Double> losses = new ArrayList<>(), norms = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        Map<String, float[]> state = new LinkedHashMap<>();
        // one emulation worker: the blocks of a launch run in grid order, so the weight gradients that concurrent
        // blocks add with atomics (the norms') sum in the same order in every run, as eager and replayed runs
        // must to be compared bit for bit
        Device dev = device == DeviceKind.CUDA_EMU ? new EmuDevice(1) : device.open();
        try (CudaBackend cuda = new CudaBackend(dev); DecoderModel m = Synthetic.model(cuda, seed).model()) {
            TrainableModel<TokenBatch> t = DeviceSteps.trainable(m, kind, seed + 1);
            int captures, replays;
            try (AdamWOptimizer opt = Trainer.optimizer(t, 0.1);
                 StepRunner<TokenBatch> runner = new StepRunner<>(t, opt, graph, notes::add)) {
                for (int step = 1; step <= count; step++) {
                    int values = frozenFromStep2 && step > 2 ? 2 : step;
                    Trainer.Step r = runner.step(steps.apply(step), step, DeviceSteps.lr(values), 1.0,
                            Trainer.dropoutSeed(seed, values));
                    losses.add(r.loss());
                    norms.add(r.gradNorm());
                }
                t.trainableParameters().forEach((name, p) -> state.put(name, cuda.download(p)));
                opt.moments(false).forEach((name, p) -> state.put("m " + name, cuda.download(p)));
                opt.moments(true).forEach((name, p) -> state.put("v " + name, cuda.download(p)));
                captures = runner.captures();
                replays = runner.replays();
            }
            return new Run(losses, norms, state, captures, replays, notes);
        }
    }

    private static void assertSameRun(DeviceKind device, Run eager, Run graph, String ctx) {
        Agreement a = Agreement.on(device);
        assertEquals(eager.state().keySet(), graph.state().keySet());
        if (a.bitForBit()) {
            assertEquals(eager.losses(), graph.losses(), ctx + ": losses");
            assertEquals(eager.norms(), graph.norms(), ctx + ": gradient norms");
            eager.state().forEach((name, v) -> assertArrayEquals(v, graph.state().get(name), ctx + ": " + name));
            return;
        }
        for (int i = 0; i < eager.losses().size(); i++) {
            double l = eager.losses().get(i), n = eager.norms().get(i), gl = graph.losses().get(i), gn = graph.norms().get(i);
            Measurements.record(device.toString(), "graph replay vs eager: losses and gradient norms",
                    Math.max(Math.abs(gl - l) / Math.abs(l), Math.abs(gn - n) / n), a.scalars());
            assertTrue(a.same(gl, l), ctx + ": step " + (i + 1) + " loss " + gl + " vs " + l);
            assertTrue(a.same(gn, n), ctx + ": step " + (i + 1) + " gradient norm " + gn + " vs " + n);
        }
        eager.state().forEach((name, v) -> {
            double e = Numerics.relErr(graph.state().get(name), v);
            Measurements.record(device.toString(), "graph replay vs eager: weights and moments", e, a.tensors());
            assertTrue(a.same(graph.state().get(name), v), ctx + ": " + name + " relative difference " + e);
        });
    }

    static Stream<Arguments> devicesAndKinds() {
        return DeviceKind.all().flatMap(d -> Stream.of(Arguments.of(d, "full"), Arguments.of(d, "lora")));
    }

    /**
     * 4 steps: a warm-up, the captured step, two replays. With LoRA the same steps with the learning
     * rate and the dropout seed frozen at step 2's as well: where stale captured values would lead.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("devicesAndKinds")
    void replayedStepsMatchEagerLaunches(DeviceKind device, String kind) {
        long seed = TestSeeds.next();
        BatchSource<TokenBatch> data = Synthetic.counting(40, seed);
        int steps = 4;
        IntFunction<List<TokenBatch>> micro = step -> DeviceSteps.micro(data, step, 2, 1, 16);
        Run eager = train(device, kind, seed, false, micro, steps, false);
        Run graph = train(device, kind, seed, true, micro, steps, false);
        String ctx = device + ", " + kind + ", seed " + seed;
        assertEquals(1, graph.captures(), ctx);
        assertEquals(steps - 2, graph.replays(), ctx);
        assertEquals(List.of(), graph.notes(), ctx);
        assertSameRun(device, eager, graph, ctx);
        if (!kind.equals("lora")) return;
        Run frozen = train(device, kind, seed, false, micro, steps, true);
        Agreement a = Agreement.on(device);
        if (a.bitForBit()) {
            assertEquals(eager.losses().subList(0, 2), frozen.losses().subList(0, 2), ctx + ": steps 1 and 2 read the same");
            // step 3's forward draws its dropout masks from the step's seed, step 4 also starts from other weights
            assertFalse(frozen.losses().get(2).equals(graph.losses().get(2)), ctx + ": step 3's loss with a frozen seed");
            assertFalse(frozen.losses().get(3).equals(graph.losses().get(3)), ctx + ": step 4's loss with frozen values");
        }
        boolean differs = false;
        for (var e : frozen.state().entrySet()) differs |= !a.same(e.getValue(), graph.state().get(e.getKey()));
        assertTrue(differs, ctx + ": frozen per-step values must end elsewhere, else this test proves nothing");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.device.DeviceKind#all")
    void stepsOfOtherShapesRunEagerlyWithANoteAndTheGraphIsCapturedAgainWhenBuffersGrow(DeviceKind device) {
        long seed = TestSeeds.next();
        BatchSource<TokenBatch> data = Synthetic.counting(40, seed);
        // 2 micro-batches of a row of 16 tokens; a partial step of 1; then rows of 24 tokens, which grow the buffers
        IntFunction<List<TokenBatch>> micro = step -> switch (step) {
            case 3 -> DeviceSteps.micro(data, step, 1, 1, 16);
            case 5, 6 -> DeviceSteps.micro(data, step, 2, 1, 24);
            default -> DeviceSteps.micro(data, step, 2, 1, 16);
        };
        int steps = 6;
        Run eager = train(device, "lora", seed, false, micro, steps, false);
        Run graph = train(device, "lora", seed, true, micro, steps, false);
        // 1 warm-up, 2 captured, 3 eager (partial), 4 replayed, 5 eager (longer rows: the buffers grow and the graph
        // is dropped; the warm-up of the new ones), 6 captured again
        assertEquals(2, graph.captures());
        assertEquals(1, graph.replays());
        assertEquals(2, graph.notes().size(), graph.notes().toString());
        assertEquals("--cuda-graph: micro-batches 1x16 differ from the captured step's 1x16, 1x16: such steps run eagerly",
                graph.notes().get(0));
        assertTrue(graph.notes().get(1).startsWith("--cuda-graph: micro-batches 1x24, 1x24 differ"), graph.notes().get(1));
        assertSameRun(device, eager, graph, device + ", seed " + seed);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("org.gpt4llm.backend.cuda.device.DeviceKind#all")
    void aTrainingRunPadsItsRowsAndNotesThePartialStep(DeviceKind device) throws IOException {
        // 5 rows in steps of 2 (micro-batches of 1): the third step holds 1 row
        Path out = tmp.resolve("graph");
        TrainConfig cfg = Synthetic.builder(out).batch(2).microBatch(1).epochs(1).evalEvery(0).saveEvery(0)
                .cudaGraph(true).build().validate();
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        long seed = TestSeeds.next();
        BatchSource<TokenBatch> rows = Synthetic.counting(5, seed);
        try (CudaBackend cuda = new CudaBackend(device.open()); DecoderModel m = Synthetic.model(cuda, seed).model()) {
            new Trainer<>(cfg, new FullFineTune(m, null), rows, null, false,
                    new PrintStream(text, true, StandardCharsets.UTF_8)).run();
        }
        String printed = text.toString(StandardCharsets.UTF_8);
        int longest = rows.longestRow();
        String note = "--cuda-graph: micro-batches 1x" + longest + " differ from the captured step's 1x" + longest + ", 1x"
                + longest + ": such steps run eagerly";
        assertTrue(printed.contains(note), printed);
        assertEquals(printed.indexOf(note), printed.lastIndexOf(note), "noted once: " + printed);
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertEquals(3, lines.size());
        for (String l : lines) {
            JsonNode line = JSON.readTree(l);
            double loss = JsonChecks.number(line, "loss"), norm = JsonChecks.number(line, "grad_norm");
            assertTrue(loss > 0 && Double.isFinite(loss) && norm > 0 && Double.isFinite(norm), l);
        }
        assertTrue(JsonChecks.required(JSON.readTree(Files.readString(out.resolve("config.json"))), "cuda_graph").asBoolean());
    }

    @Test
    void theCpuBackendRefusesTheFlag() {
        try (CpuBackend cpu = new CpuBackend(1); DecoderModel m = Synthetic.model(cpu, 1).model();
             AdamWOptimizer opt = Trainer.optimizer(new FullFineTune(m, null), 0)) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> new StepRunner<>(new FullFineTune(m, null), opt, true, note -> {}));
            assertEquals("--cuda-graph needs --backend cuda or cuda-emu; this run uses cpu", e.getMessage());
        }
    }
}
