package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Whole runs of the trainer on the CPU backend, with a tiny LLaMA on a synthetic counting task. */
class TrainerTest {
    private static final PrintStream SILENT = new PrintStream(OutputStream.nullOutputStream());
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

    private Trainer.Result run(TrainConfig cfg, TrainableModel<TokenBatch> model) throws IOException {
        return new Trainer<>(cfg, model, Synthetic.counting(64, 1), Synthetic.counting(16, 2), true, SILENT).run();
    }

    @Test
    void lossFallsAndTheRunFolderHoldsEverything() throws IOException {
        Path out = tmp.resolve("run");
        TrainConfig cfg = Synthetic.config(out);
        Trainer.Result r;
        try (var m = Synthetic.model(cpu, 3).model()) {
            r = run(cfg, new FullFineTune(m, null));
        }
        assertEquals(24, r.steps());
        List<JsonNode> lines = metrics(out);
        assertEquals(24, lines.size());
        double first = lines.getFirst().get("loss").asDouble(), last = lines.getLast().get("loss").asDouble();
        assertTrue(first > 3.0, "a random model starts near ln(32) = 3.47, got " + first);
        assertTrue(last < first / 3, "training loss " + first + " -> " + last);
        assertTrue(r.evalLoss() < r.firstEvalLoss() / 2 && r.evalLoss() < 1.2,
                "held-out loss " + r.firstEvalLoss() + " -> " + r.evalLoss());
        for (JsonNode l : lines) {
            for (String k : List.of("step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s")) assertTrue(l.has(k), k + " in " + l);
            assertTrue(JsonChecks.integer(l, "peak_device_bytes") > 0, l.toString());
            int step = l.get("step").asInt();
            assertEquals(step % 5 == 0 || step == 24, l.has("eval_loss"), "eval_loss on step " + step);
        }
        assertEquals(1.0, lines.get(7).get("epoch").asDouble());
        // keep 2 of the checkpoints at 4, 8, ..., 20; the last step goes to final/
        assertEquals(List.of("checkpoint-16", "checkpoint-20"), checkpoints(out));
        FilePermissions.assertUmaskDefault(out.resolve("checkpoint-20"));
        for (String f : List.of("model.safetensors", "config.json", "optimizer.safetensors", "trainer_state.json")) {
            assertTrue(Files.isRegularFile(out.resolve("checkpoint-20").resolve(f)), f);
            FilePermissions.assertUmaskDefault(out.resolve("checkpoint-20").resolve(f));
        }
        FilePermissions.assertUmaskDefault(out.resolve("metrics.jsonl"));
        FilePermissions.assertUmaskDefault(out.resolve("final/model.safetensors"));
        TrainerState state = TrainerState.read(out.resolve("checkpoint-20/trainer_state.json"));
        assertEquals(20, state.step());
        assertEquals(20, state.metricsLines());
        assertEquals(new TrainerState.Data(7, 64, 8, 2, 32), state.data());
        assertEquals(new TrainerState.Rng(7, Trainer.dropoutSeed(7, 20)), state.rng());
        assertTrue(Files.isRegularFile(out.resolve("final/model.safetensors")));
        assertTrue(Files.isRegularFile(out.resolve("final/config.json")));
        byte[] png = Files.readAllBytes(out.resolve("loss.png"));
        assertEquals("PNG", new String(png, 1, 3, StandardCharsets.US_ASCII));
        assertEquals(cfg, TrainConfig.resolve(out.resolve("config.json"), null), "config.json holds the run's settings");
        try (Stream<Path> s = Files.list(out)) {
            assertFalse(s.anyMatch(p -> p.getFileName().toString().startsWith(".")), "no temp files left behind");
        }
        // a second run into the same folder without --resume would mix two runs
        var e = assertThrows(IllegalArgumentException.class, () -> {
            try (var m = Synthetic.model(cpu, 3).model()) {
                run(cfg, new FullFineTune(m, null));
            }
        });
        assertTrue(e.getMessage().contains("--resume"), e.getMessage());
    }

    @Test
    void aRunKilledMidwayAndResumedLogsTheSameMetricsAndWeights() throws IOException {
        Path whole = tmp.resolve("whole"), killed = tmp.resolve("killed");
        try (var m = Synthetic.model(cpu, 5).model()) {
            run(Synthetic.config(whole), new FullFineTune(m, null));
        }
        // dies inside step 15: checkpoint-12 is the newest, metrics.jsonl already has 14 lines
        try (var m = Synthetic.model(cpu, 5).model()) {
            var faulty = new Synthetic.Faulty(new FullFineTune(m, null), 15, false);
            assertThrows(IllegalStateException.class, () -> run(Synthetic.config(killed), faulty));
        }
        assertEquals(14, metrics(killed).size());
        assertEquals(List.of("checkpoint-8", "checkpoint-12"), checkpoints(killed));
        TrainConfig again = Synthetic.builder(killed).resume(true).build();
        try (var m = Synthetic.model(cpu, 99).model()) { // other initial weights: all of them come from the checkpoint
            run(again, new FullFineTune(m, null));
        }
        List<JsonNode> a = metrics(whole), b = metrics(killed);
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(withoutSpeed(a.get(i)), withoutSpeed(b.get(i)), "metrics line " + (i + 1));
        }
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")),
                Files.readAllBytes(killed.resolve("final/model.safetensors")), "final weights");
    }

    @Test
    void aNanLossStopsTheRunAndKeepsTheLastCheckpoint() throws IOException {
        Path out = tmp.resolve("nan");
        TrainConfig cfg = Synthetic.builder(out).saveEvery(3).build();
        TrainingDivergedException e;
        try (var m = Synthetic.model(cpu, 4).model()) {
            var faulty = new Synthetic.Faulty(new FullFineTune(m, null), 7, true);
            e = assertThrows(TrainingDivergedException.class, () -> run(cfg, faulty));
        }
        assertTrue(e.getMessage().startsWith("step 7: the training loss is NaN"), e.getMessage());
        assertTrue(e.getMessage().contains("checkpoint-6"), e.getMessage());
        assertEquals(List.of("checkpoint-3", "checkpoint-6"), checkpoints(out));
        assertEquals(6, metrics(out).size());
        assertFalse(Files.exists(out.resolve("final")));
        // and the run continues from there
        TrainConfig again = Synthetic.builder(out).saveEvery(3).resume(true).build();
        try (var m = Synthetic.model(cpu, 4).model()) {
            assertEquals(24, run(again, new FullFineTune(m, null)).steps());
        }
        assertEquals(24, metrics(out).size());
    }

    @Test
    void aTrainerStateWithoutAFieldNamesIt() throws IOException {
        Path file = tmp.resolve("trainer_state.json");
        new TrainerState(3, 3, 9, 3, new TrainerState.Data(1, 10, 2, 1, 4), new TrainerState.Rng(1, 5), List.of()).write(file);
        assertEquals(3, TrainerState.read(file).metricsLines());
        Files.writeString(file, Files.readString(file).replace("\"rows\"", "\"row_count\""));
        var e = assertThrows(IllegalArgumentException.class, () -> TrainerState.read(file));
        assertEquals(file + ": field data.rows is missing", e.getMessage());
    }

    @Test
    void keepZeroKeepsEveryCheckpoint() throws IOException {
        Path out = tmp.resolve("all");
        TrainConfig cfg = Synthetic.builder(out).maxSteps(9).saveEvery(2).keep(0).build();
        try (var m = Synthetic.model(cpu, 4).model()) {
            run(cfg, new FullFineTune(m, null));
        }
        assertEquals(List.of("checkpoint-2", "checkpoint-4", "checkpoint-6", "checkpoint-8"), checkpoints(out));
        assertEquals(9, metrics(out).size());
    }

    private static JsonNode withoutSpeed(JsonNode line) {
        ObjectNode copy = ((ObjectNode) line).deepCopy();
        copy.remove("tokens_per_s");
        copy.remove("peak_device_bytes");  // a resumed process allocates in its own order
        return copy;
    }

    private static List<JsonNode> metrics(Path run) throws IOException {
        List<JsonNode> out = new java.util.ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) out.add(TrainConfig.JSON.readTree(l));
        return out;
    }

    private static List<String> checkpoints(Path run) throws IOException {
        return new CheckpointStore(run).list().stream().map(p -> p.getFileName().toString()).toList();
    }
}
