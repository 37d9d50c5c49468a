package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training process killed with SIGKILL part-way, then resumed, logs the same metrics (every value
 * but tokens_per_s and peak_device_bytes) and ends with the same weights, byte for byte, as a run that was never stopped;
 * killed at random points while it writes a checkpoint every step, the next run leaves no temp file
 * or folder behind.
 */
class KilledRunTest {
    private static final int STEPS = 40;

    @TempDir
    Path tmp;

    /**
     * The training process: {@code args[0]} is the run folder; with a second argument {@code every-step}
     * it resumes whatever is there and writes a checkpoint after every step.
     */
    public static void main(String[] args) throws IOException {
        try (CpuBackend cpu = new CpuBackend(2)) {
            if (args.length > 1) run(cpu, resumed(Path.of(args[0]), 1));
            else run(cpu, Path.of(args[0]), false);
        }
    }

    static void run(CpuBackend cpu, Path out, boolean resume) throws IOException {
        run(cpu, Synthetic.builder(out).maxSteps(STEPS).resume(resume).build().validate());
    }

    /** A resumed run with a checkpoint every {@code saveEvery} steps (1: it spends most of its time writing them). */
    static TrainConfig resumed(Path out, int saveEvery) {
        return Synthetic.builder(out).maxSteps(STEPS).saveEvery(saveEvery).keep(2).resume(true).build().validate();
    }

    static void run(CpuBackend cpu, TrainConfig cfg) throws IOException {
        try (var m = Synthetic.model(cpu, 11).model()) {
            new Trainer<>(cfg, new FullFineTune(m, null), Synthetic.counting(64, 1), Synthetic.counting(16, 2), true,
                    new PrintStream(OutputStream.nullOutputStream())).run();
        }
    }

    @Test
    void sigkillThenResumeMatchesAnUninterruptedRun() throws Exception {
        Path killed = tmp.resolve("killed"), whole = tmp.resolve("whole");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), KilledRunTest.class.getName(), killed.toString())
                .redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile()).start();
        Path metrics = killed.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + 300_000_000_000L;
        while (p.isAlive() && lines(metrics) < 14 && System.nanoTime() < deadline) Thread.sleep(10);
        assertTrue(p.isAlive(), "the training process ended before it could be killed: " + Files.readString(tmp.resolve("child.log")));
        p.destroyForcibly(); // SIGKILL
        p.waitFor();
        int logged = lines(metrics);
        assertTrue(logged < STEPS && !Files.exists(killed.resolve("final")), "killed after " + logged + " steps");

        try (CpuBackend cpu = new CpuBackend(2)) {
            run(cpu, killed, true);
            run(cpu, whole, false);
        }
        List<JsonNode> a = read(whole), b = read(killed);
        assertEquals(STEPS, a.size());
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            ObjectNode x = ((ObjectNode) a.get(i)).deepCopy(), y = ((ObjectNode) b.get(i)).deepCopy();
            for (String measured : List.of("tokens_per_s", "peak_device_bytes")) {
                x.remove(measured);
                y.remove(measured);
            }
            assertEquals(x, y, "metrics line " + (i + 1) + " (killed after " + logged + " lines)");
        }
        assertArrayEquals(Files.readAllBytes(whole.resolve("final/model.safetensors")),
                Files.readAllBytes(killed.resolve("final/model.safetensors")));
    }

    @Test
    void killedWhileCheckpointingTheNextRunLeavesNothingHalfWritten() throws Exception {
        Path run = tmp.resolve("every-step");
        Random random = TestSeeds.random();
        for (int kill = 1; kill <= 3; kill++) {
            Process p = start(tmp, run, "every-step", "child" + kill + ".log");
            int logged = lines(run.resolve("metrics.jsonl"));
            long deadline = System.nanoTime() + 120_000_000_000L;
            // once training goes on (a step logged), a random moment of the checkpointing that fills it
            while (p.isAlive() && lines(run.resolve("metrics.jsonl")) <= logged && System.nanoTime() < deadline) Thread.sleep(2);
            Thread.sleep(random.nextInt(100));
            assertTrue(p.isAlive(), "run " + kill + " ended before it could be killed: " + Files.readString(tmp.resolve("child" + kill + ".log")));
            p.destroyForcibly().waitFor();
        }
        assertFalse(Files.exists(run.resolve("final")), "killed before the end");
        try (CpuBackend cpu = new CpuBackend(2)) {
            run(cpu, resumed(run, 0)); // the rest without checkpoints (--save-every may change on resume): quicker
        }
        assertEquals(List.of(), TrainerResumeTest.hidden(run), "no temp file or folder left behind");
        assertEquals(STEPS, lines(run.resolve("metrics.jsonl")));
        assertEquals(STEPS, TrainerState.read(run.resolve("final/trainer_state.json")).step());
        try (Stream<Path> s = Files.list(run)) {
            for (Path c : s.filter(p -> p.getFileName().toString().startsWith("checkpoint-")).toList()) {
                assertTrue(Files.isRegularFile(c.resolve("trainer_state.json")), c + " is complete");
            }
        }
        try (CpuBackend cpu = new CpuBackend(1); var m = DecoderModels.load(cpu, run.resolve("final"))) {
            assertEquals(Synthetic.TINY.hiddenSize(), m.config().hiddenSize(), "final/ loads");
        }
    }

    private static Process start(Path tmp, Path run, String mode, String log) throws IOException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        return new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                KilledRunTest.class.getName(), run.toString(), mode)
                .redirectErrorStream(true).redirectOutput(tmp.resolve(log).toFile()).start();
    }

    private static int lines(Path f) throws IOException {
        return Files.exists(f) ? Files.readAllLines(f).size() : 0;
    }

    private static List<JsonNode> read(Path run) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) out.add(TrainConfig.JSON.readTree(l));
        return out;
    }
}
