package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.EmuDevice;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.KvCacheSession;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.data.EncodedGroup;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.data.RewardDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a profile of a training run shows: JFR events for every optimizer step and every held-out
 * evaluation (checked against metrics.jsonl), and, on the emulated GPU path, the NVTX ranges each
 * phase pushes, by name, balanced and properly nested.
 */
class ProfilingTest {
    private static final PrintStream SILENT = new PrintStream(OutputStream.nullOutputStream());
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void jfrHasAStepEventPerStepAndAnEvalEventPerEvaluation() throws IOException {
        Path out = tmp.resolve("run"), file = tmp.resolve("run.jfr");
        // 8 steps, eval after steps 5 and 8 (and before the first)
        TrainConfig cfg = Synthetic.builder(out).epochs(1).evalOnStart(true).saveEvery(0).build().validate();
        try (CpuBackend cpu = new CpuBackend(2); DecoderModel dm = Synthetic.model(cpu, 3).model(); Recording rec = new Recording()) {
            FullFineTune m = new FullFineTune(dm, null);
            rec.enable("org.gpt4llm.TrainStep");
            rec.enable("org.gpt4llm.Evaluate");
            rec.start();
            new Trainer<>(cfg, m, Synthetic.counting(64, 1), Synthetic.counting(16, 2), true, SILENT).run();
            rec.stop();
            rec.dump(file);
        }
        List<JsonNode> metrics = Files.readAllLines(out.resolve("metrics.jsonl")).stream().map(l -> {
            try {
                return JSON.readTree(l);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }).toList();
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        List<RecordedEvent> steps = events.stream().filter(e -> e.getEventType().getName().equals("org.gpt4llm.TrainStep")).toList();
        List<RecordedEvent> evals = events.stream().filter(e -> e.getEventType().getName().equals("org.gpt4llm.Evaluate")).toList();
        List<JsonNode> stepLines = metrics.stream().filter(l -> l.has("loss")).toList();
        List<JsonNode> evalLines = metrics.stream().filter(l -> l.has("eval_loss")).toList();
        assertEquals(8, steps.size());
        for (int i = 0; i < steps.size(); i++) {
            RecordedEvent e = steps.get(i);
            assertEquals(i + 1, e.getInt("step"));
            assertEquals(stepLines.get(i).get("loss").floatValue(), e.getFloat("loss"), 0f);
            assertTrue(e.getLong("tokens") > 0);
            assertTrue(e.getDuration().toNanos() > 0);
        }
        assertEquals(List.of(0, 5, 8), evals.stream().map(e -> e.getInt("step")).toList());
        for (int i = 0; i < evals.size(); i++) {
            assertEquals(evalLines.get(i).get("eval_loss").floatValue(), evals.get(i).getFloat("loss"), 1e-6f);
            assertTrue(evals.get(i).getLong("terms") > 0 && evals.get(i).getLong("tokens") >= evals.get(i).getLong("terms"));
        }
    }

    @Test
    void everyPhaseOnTheGpuPathPushesItsNamedRangeAndPopsIt() throws IOException {
        Path out = tmp.resolve("emu-run");
        TrainConfig cfg = Synthetic.builder(out).batch(4).microBatch(2).epochs(1).maxSteps(2).evalEvery(1).saveEvery(1)
                .build().validate();
        EmuDevice dev = new EmuDevice(2);
        List<String> log;
        try (CudaBackend emu = new CudaBackend(dev); DecoderModel dm = Synthetic.model(emu, 3).model()) {
            FullFineTune m = new FullFineTune(dm, null);
            dev.recordRanges();
            new Trainer<>(cfg, m, Synthetic.counting(8, 1), Synthetic.counting(4, 2), true, SILENT).run();
            try (KvCacheSession s = dm.open(2, 8)) {
                s.prefill(new int[][] {{1, 2, 3}, {4, 5}});
                s.step(new int[] {4, 6});
            }
            try (RewardModel rm = RewardModel.initRandom(emu, Synthetic.TINY, 5, 0)) {
                EncodedGroup g = new EncodedGroup(new RecordRef(Path.of("pairs"), 0, 0), new int[][] {{1, 2, 3}, {1, 2}},
                        new float[] {1, 0});
                new RewardDataset(List.of(g), 0).rewards(rm, 1);
            }
            log = dev.recordedRanges();
        }
        assertEquals(0, dev.openRanges(), "every range pushed was popped");
        // balanced and nested: each pop closes the innermost open range
        ArrayDeque<String> open = new ArrayDeque<>();
        for (String entry : log) {
            if (entry.startsWith("+")) open.push(entry.substring(1));
            else assertEquals(open.pop(), entry.substring(1), "pops close the innermost range");
        }
        for (String name : List.of("batch", "step 1", "step 2", "forward", "layer 0", "layer 1", "backward", "optimizer",
                "eval", "checkpoint", "prefill", "decode", "reward score")) {
            assertTrue(log.contains("+" + name), "range " + name + " in " + log);
        }
        // the forward and backward of a step sit inside it; the held-out forward inside eval
        int step1 = log.indexOf("+step 1"), end1 = log.indexOf("-step 1");
        assertTrue(log.subList(step1, end1).containsAll(List.of("+forward", "+backward", "+optimizer")));
        int eval = log.indexOf("+eval");
        assertEquals("+forward", log.get(eval + 1));
        assertEquals(1, log.stream().filter(e -> e.equals("+prefill")).count());
        assertEquals(1, log.stream().filter(e -> e.equals("+decode")).count());
        int score = log.indexOf("+reward score");
        assertEquals("+forward", log.get(score + 1), "the reward model's forward inside its scoring range");
    }
}
