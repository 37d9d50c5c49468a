package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** How {@code sft}'s flags and its config file combine into the run's configuration. */
class SftCommandTest {
    @TempDir
    Path tmp;

    private static TrainConfig resolve(String... args) throws IOException {
        SftCommand cmd = new SftCommand();
        new CommandLine(cmd).parseArgs(args);
        return cmd.resolve();
    }

    @Test
    void flagsOverrideTheConfigFile() throws IOException {
        Path yaml = tmp.resolve("sft.yaml");
        Files.writeString(yaml, "model: base\nout: runs/a\nlr: 1.0e-4\nepochs: 5\nlora_targets: [q_proj]\npacking: true\n");
        TrainConfig c = resolve("--config", yaml.toString(), "--lr", "3e-4", "--data", "a.json,b.json",
                "--lora-targets", "q_proj,v_proj,o_proj", "--resume", "--micro-batch", "2");
        assertEquals(3e-4, c.lr());
        assertEquals(5, c.epochs());
        assertEquals(List.of("a.json", "b.json"), c.data());
        assertEquals(List.of("q_proj", "v_proj", "o_proj"), c.loraTargets());
        assertTrue(c.resume() && c.packing());
        assertEquals(2, c.microBatch());
        assertEquals(128, c.batch());
    }

    @Test
    void withoutAFileFlagsAndDefaults() throws IOException {
        TrainConfig c = resolve("--model", "m", "--out", "o", "--schedule", "linear", "--seed", "5");
        assertEquals("linear", c.schedule());
        assertEquals(5, c.seed());
        assertEquals(2e-5, c.lr());
        assertFalse(c.cudaGraph());
        assertTrue(resolve("--model", "m", "--out", "o", "--cuda-graph").cudaGraph());
        assertFalse(c.recompute());
        assertTrue(resolve("--model", "m", "--out", "o", "--recompute").recompute());
        assertFalse(c.offloadOptimizer());
        assertTrue(resolve("--model", "m", "--out", "o", "--offload-optimizer").offloadOptimizer());
        var e = assertThrows(IllegalArgumentException.class, () -> resolve("--out", "o"));
        assertTrue(e.getMessage().startsWith("--model is required"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> resolve("--model", "m", "--out", "o", "--lr", "-1"));
        assertEquals("--lr must be positive, got -1.0", e.getMessage());
    }
}
