package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.FileTrees;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code sft --resume} knows what it was trained on: a changed {@code --data} file is refused in one
 * sentence naming it unless {@code --accept-changed-data} is given, a run folder from before data files
 * were fingerprinted resumes with one warning, and a finished run is left as it is.
 */
class SftResumeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] WORDS = {"write", "a", "short", "poem", "about", "the", "sea", "list", "three", "fruits",
            "explain", "why", "sky", "is", "blue", "name", "two", "colors", "give", "an", "example"};

    @TempDir
    static Path shared;
    static Path base;

    @TempDir
    Path tmp;

    /** A tokenizer and a tiny LLaMA trained from nothing, on Alpaca records made up here. */
    @BeforeAll
    static void model() throws Exception {
        Path data = alpaca(shared.resolve("tokenizer-data.json"), 60, TestSeeds.random());
        Path tok = shared.resolve("tok");
        base = shared.resolve("base");
        CliRun r = CliRun.of("init-tokenizer", "--data", data.toString(), "--vocab", "300", "--out", tok.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        r = CliRun.of("init-model", "--preset", "tiny", "--tokenizer", tok.toString(), "--out", base.toString(), "--seed", "1");
        assertEquals(0, r.code(), r.out() + r.err());
    }

    /** {@code n} Alpaca records of random words, as a JSON array. */
    static Path alpaca(Path file, int n, Random r) throws Exception {
        ArrayNode records = JSON.createArrayNode();
        for (int i = 0; i < n; i++) {
            records.addObject().put("instruction", words(r, 3 + r.nextInt(6))).put("input", "").put("output", words(r, 4 + r.nextInt(8)));
        }
        Files.writeString(file, JSON.writeValueAsString(records));
        return file;
    }

    private static String words(Random r, int k) {
        List<String> w = new ArrayList<>();
        for (int i = 0; i < k; i++) w.add(WORDS[r.nextInt(WORDS.length)]);
        return String.join(" ", w);
    }

    private static CliRun sft(Path data, Path run, String... more) {
        List<String> args = new ArrayList<>(List.of("sft", "--model", base.toString(), "--data", data.toString(), "--out",
                run.toString(), "--max-len", "256", "--batch", "4", "--micro-batch", "4", "--max-steps", "4",
                "--save-every", "2", "--eval-every", "2", "--threads", "2", "--quiet"));
        args.addAll(List.of(more));
        return CliRun.of(args.toArray(String[]::new));
    }

    /** A run stopped after checkpoint-2: what a kill between the checkpoint and the end leaves (final/ never written). */
    private Path stoppedRun(Path data) throws Exception {
        Path run = tmp.resolve("run");
        CliRun r = sft(data, run);
        assertEquals(0, r.code(), r.out() + r.err());
        org.gpt4llm.datagen.files.TempFiles.deleteTree(run.resolve("final"));
        return run;
    }

    @Test
    void aChangedDataFileIsRefusedNamingItAndTheAcceptFlagContinues() throws Exception {
        Path data = alpaca(tmp.resolve("data.json"), 40, TestSeeds.random());
        Path run = stoppedRun(data);

        // one answer edited: as many records, as many bytes or not, other content
        ArrayNode records = (ArrayNode) JSON.readTree(data.toFile());
        ((ObjectNode) records.get(TestSeeds.random().nextInt(records.size()))).put("output", "an edited answer");
        Files.writeString(data, JSON.writeValueAsString(records));
        CliRun r = sft(data, run, "--resume");
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().startsWith("gpt4llm sft: --resume: the --data file " + data + " has changed since checkpoint-2"
                + " was written ("), r.err());
        assertTrue(r.err().strip().endsWith("; pass --accept-changed-data to continue training on it as it is now"), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one sentence: " + r.err());
        assertTrue(!Files.exists(run.resolve("final")), "nothing trained");

        r = sft(data, run, "--resume", "--accept-changed-data");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("warning: the --data file " + data + " has changed since"
                + " checkpoint-2")), r.out());
        assertTrue(Files.isRegularFile(run.resolve("final/model.safetensors")), "the run went on to the end");
        assertEquals(4, Files.readAllLines(run.resolve("metrics.jsonl")).size());
    }

    @Test
    void aRunFolderWithoutFingerprintsResumesWithOneWarning() throws Exception {
        Path data = alpaca(tmp.resolve("data.json"), 40, TestSeeds.random());
        Path run = stoppedRun(data);
        Path state = run.resolve("checkpoint-2/trainer_state.json");
        ObjectNode json = (ObjectNode) JSON.readTree(state.toFile());
        json.remove("data_files");
        Files.writeString(state, JSON.writeValueAsString(json));

        CliRun r = sft(data, run, "--resume");
        assertEquals(0, r.code(), r.out() + r.err());
        List<String> warnings = r.out().lines().filter(l -> l.startsWith("warning:")).toList();
        assertEquals(List.of("warning: " + run.resolve("checkpoint-2") + " was written before data files were fingerprinted,"
                + " so --resume cannot check that --data is what it was trained on"), warnings);
        assertTrue(Files.isRegularFile(run.resolve("final/model.safetensors")));
    }

    @Test
    void resumingAFinishedRunDoesNothing() throws Exception {
        Path data = alpaca(tmp.resolve("data.json"), 40, TestSeeds.random());
        Path run = tmp.resolve("done");
        assertEquals(0, sft(data, run).code());
        Map<String, String> before = FileTrees.snapshot(run);
        CliRun r = sft(data, run, "--resume");
        assertEquals(0, r.code(), r.out() + r.err());
        assertEquals("--resume: " + run + " is finished (final/ holds step 4 of 4), so there is nothing to do; train"
                + " further into another --out", r.out().strip());
        assertEquals(before, FileTrees.snapshot(run), "final/ and everything else untouched: same bytes, times and files");
    }
}
