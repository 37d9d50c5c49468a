package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.io.FileFingerprint;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.testing.EndedProcess;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.FileTrees;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --resume} never pairs a checkpoint with other data than it was trained on, does nothing to a
 * finished run, and no failed or killed save leaves a temp folder behind.
 */
class TrainerResumeTest {
    private static final int STEPS = 10;
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

    /** A data file of random bytes; the trainer reads its rows from {@link Synthetic}, the file is only fingerprinted. */
    private Path dataFile() throws IOException {
        byte[] bytes = new byte[3000 + TestSeeds.random().nextInt(3000)];
        TestSeeds.random().nextBytes(bytes);
        return Files.write(tmp.resolve("data.jsonl"), bytes);
    }

    private static TrainConfig.Builder config(Path out, Path data) {
        return Synthetic.builder(out).maxSteps(STEPS).saveEvery(4).data(List.of(data.toString()));
    }

    private static Trainer.Result run(TrainConfig cfg, TrainableModel<TokenBatch> model, PrintStream out) throws IOException {
        return new Trainer<>(cfg, model, Synthetic.counting(64, 1), Synthetic.counting(16, 2), true, out).run();
    }

    /** A run that dies in step 7: checkpoint-4 is its newest. */
    private static void runKilledAtStep7(Path out, Path data) throws IOException {
        try (var m = Synthetic.model(cpu, 5).model()) {
            var faulty = new Synthetic.Faulty(new FullFineTune(m, null), 7, false);
            assertThrows(IllegalStateException.class, () -> run(config(out, data).build(), faulty, silent()));
        }
        assertEquals(List.of("checkpoint-4"), checkpoints(out));
    }

    private static Trainer.Result resume(TrainConfig cfg, PrintStream out) throws IOException {
        try (var m = Synthetic.model(cpu, 5).model()) {
            return run(cfg, new FullFineTune(m, null), out);
        }
    }

    @Test
    void aChangedDataFileIsRefusedUnlessAccepted() throws IOException {
        Path out = tmp.resolve("run"), data = dataFile();
        runKilledAtStep7(out, data);
        FileFingerprint before = FileFingerprint.of(data.toString());
        assertEquals(List.of(before), TrainerState.read(out.resolve("checkpoint-4/trainer_state.json")).dataFiles());
        assertEquals(Files.size(data), before.size());

        byte[] bytes = Files.readAllBytes(data);
        bytes[TestSeeds.random().nextInt(bytes.length)] ^= 1; // same size, other content
        Files.write(data, bytes);
        TrainConfig again = config(out, data).resume(true).build();
        var e = assertThrows(IllegalArgumentException.class, () -> resume(again, silent()));
        assertTrue(e.getMessage().startsWith("--resume: the --data file " + data + " has changed since checkpoint-4 was"
                + " written (its content differs"), e.getMessage());
        assertTrue(e.getMessage().endsWith("pass --accept-changed-data to continue training on it as it is now"), e.getMessage());

        Files.write(data, new byte[] {'\n'}, java.nio.file.StandardOpenOption.APPEND);
        e = assertThrows(IllegalArgumentException.class, () -> resume(again, silent()));
        assertTrue(e.getMessage().contains("(its size is now " + String.format(java.util.Locale.ROOT, "%,d", bytes.length + 1)
                + " bytes, was " + String.format(java.util.Locale.ROOT, "%,d", bytes.length) + ")"), e.getMessage());
        assertEquals(List.of("checkpoint-4"), checkpoints(out), "a refused resumption changes nothing");

        ByteArrayOutputStream said = new ByteArrayOutputStream();
        Trainer.Result r = resume(config(out, data).resume(true).acceptChangedData(true).build(), printTo(said));
        assertEquals(STEPS, r.steps());
        List<String> warnings = said.toString(StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("warning:")).toList();
        assertEquals(1, warnings.size(), said.toString(StandardCharsets.UTF_8));
        assertTrue(warnings.getFirst().contains(data.toString()) && warnings.getFirst().contains("--accept-changed-data"),
                warnings.getFirst());
        assertEquals(List.of(FileFingerprint.of(data.toString())),
                TrainerState.read(out.resolve("final/trainer_state.json")).dataFiles(), "what final/ was trained on last");
    }

    @Test
    void aCheckpointWrittenBeforeFingerprintsResumesWithOneWarning() throws IOException {
        Path out = tmp.resolve("old"), data = dataFile();
        runKilledAtStep7(out, data);
        Path state = out.resolve("checkpoint-4/trainer_state.json");
        ObjectNode json = (ObjectNode) TrainConfig.JSON.readTree(state.toFile());
        json.remove("data_files");
        Files.writeString(state, TrainConfig.JSON.writeValueAsString(json));
        assertNull(TrainerState.read(state).dataFiles());

        ByteArrayOutputStream said = new ByteArrayOutputStream();
        assertEquals(STEPS, resume(config(out, data).resume(true).build(), printTo(said)).steps());
        List<String> lines = said.toString(StandardCharsets.UTF_8).lines().toList();
        assertEquals(1, lines.size(), "one line, and nothing else in a quiet run: " + lines);
        assertTrue(lines.getFirst().startsWith("warning: " + out.resolve("checkpoint-4") + " was written before data files"
                + " were fingerprinted"), lines.getFirst());
    }

    @Test
    void resumingAFinishedRunChangesNothing() throws IOException {
        Path out = tmp.resolve("done"), data = dataFile();
        Trainer.Result first = resume(config(out, data).build(), silent());
        Map<String, String> before = FileTrees.snapshot(out);

        // even with changed data: nothing is trained, so nothing is paired with it
        Files.write(data, new byte[] {'x'}, java.nio.file.StandardOpenOption.APPEND);
        RunStart start = RunStart.check(config(out, data).resume(true).build());
        assertTrue(start.finished());
        assertEquals("--resume: " + out + " is finished (final/ holds step " + STEPS + " of " + STEPS + "), so there is"
                + " nothing to do; train further into another --out", start.finishedMessage());
        Trainer.Result again = resume(config(out, data).resume(true).build(), silent());
        assertEquals(before, FileTrees.snapshot(out), "final/, checkpoints and logs untouched");
        assertEquals(first.steps(), again.steps());
        assertEquals((float) first.loss(), (float) again.loss(), "the last loss, as metrics.jsonl logged it");
        assertEquals(first.evalLoss(), again.evalLoss());
        assertEquals(first.finalDir(), again.finalDir());
    }

    @Test
    void aCheckpointThatFailsToWriteLeavesNoTempFolder() throws IOException {
        Path out = tmp.resolve("full"), data = dataFile();
        try (var m = Synthetic.model(cpu, 5).model()) {
            var e = assertThrows(IOException.class,
                    () -> run(config(out, data).build(), Synthetic.Faulty.fullDisk(new FullFineTune(m, null)), silent()));
            assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
        }
        assertEquals(List.of(), checkpoints(out));
        assertEquals(List.of(), hidden(out), "no temp folder left");
    }

    @Test
    void theNextRunRemovesOnlyTheTempsOfStoppedRuns() throws Exception {
        Path out = tmp.resolve("stale"), data = dataFile();
        Files.createDirectories(out);
        long gone = EndedProcess.pid();
        Path stale = Files.createDirectories(out.resolve(".checkpoint-8.checkpoint-" + gone + "-0123456789abcdef.tmp"));
        Files.writeString(stale.resolve("model.safetensors"), "half");
        Path staleFile = Files.writeString(out.resolve(".config.json.write-" + gone + "-00000000000000ff.tmp"), "{");
        Path live = Files.createDirectories(out.resolve(".checkpoint-4.checkpoint-" + ProcessHandle.current().pid()
                + "-0123456789abcdef.tmp"));
        Path foreign = Files.writeString(out.resolve(".notes.tmp"), "not ours");
        resume(config(out, data).build(), silent());
        assertFalse(Files.exists(stale) || Files.exists(staleFile), "a stopped run's temps are removed: " + hidden(out));
        assertTrue(Files.exists(live) && Files.exists(foreign), "a live process's temp and other files stay: " + hidden(out));
        FilePermissions.assertUmaskDefault(out.resolve("checkpoint-8"));
    }


    static List<String> hidden(Path dir) throws IOException {
        return FileTrees.names(dir).stream().filter(n -> n.startsWith(".")).toList();
    }

    private static List<String> checkpoints(Path run) throws IOException {
        return new CheckpointStore(run).list().stream().map(p -> p.getFileName().toString()).toList();
    }

    private static PrintStream silent() {
        return new PrintStream(java.io.OutputStream.nullOutputStream());
    }

    private static PrintStream printTo(ByteArrayOutputStream bytes) {
        return new PrintStream(bytes, true, StandardCharsets.UTF_8);
    }
}
