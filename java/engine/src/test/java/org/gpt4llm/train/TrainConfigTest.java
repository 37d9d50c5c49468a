package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Defaults, then the config file, then flags; unknown keys and bad values are named. */
class TrainConfigTest {
    @TempDir
    Path tmp;

    @Test
    void defaultsAreTheAlpacaRecipe() {
        TrainConfig c = new TrainConfig();
        assertEquals(3, c.epochs);
        assertEquals(2e-5, c.lr);
        assertEquals(128, c.batch);
        assertEquals(0.0, c.weightDecay);
        assertEquals(0.03, c.warmupRatio);
        assertEquals("cosine", c.schedule);
        assertEquals(1.0, c.gradClip);
        assertEquals(512, c.maxLen);
        assertFalse(c.lora());
    }

    @Test
    void flagsWinOverTheFileWhichWinsOverDefaults() throws IOException {
        Path yaml = tmp.resolve("run.yaml");
        Files.writeString(yaml, """
                model: base
                lr: 1.0e-4
                batch: 64
                max-len: 256
                lora_targets: [q_proj, k_proj, v_proj]
                data: a.json
                """);
        ObjectNode flags = TrainConfig.JSON.createObjectNode().put("lr", 3e-4).put("out", "runs/x").put("micro-batch", 8);
        TrainConfig c = TrainConfig.resolve(yaml, flags).validate();
        assertEquals(3e-4, c.lr);
        assertEquals(64, c.batch);
        assertEquals(256, c.maxLen);
        assertEquals(8, c.microBatch);
        assertEquals("base", c.model);
        assertEquals(List.of("q_proj", "k_proj", "v_proj"), c.loraTargets);
        assertEquals(List.of("a.json"), c.data);
        assertEquals(3, c.epochs);

        // the saved config.json, given back as --config, resolves to the same values
        Path saved = tmp.resolve("config.json");
        c.save(saved);
        TrainConfig back = TrainConfig.resolve(saved, TrainConfig.JSON.createObjectNode());
        assertEquals(c.toJson(), back.toJson());
        assertTrue(Files.readString(saved).contains("\"max_len\" : 256"));
    }

    @Test
    void anUnknownKeyNamesTheFileAndTheKey() throws IOException {
        Path json = tmp.resolve("bad.json");
        Files.writeString(json, "{\"lr\": 1e-4, \"learning_rate\": 1e-4}");
        var e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(json, TrainConfig.JSON.createObjectNode()));
        assertTrue(e.getMessage().startsWith(json + ": unknown key 'learning_rate'"), e.getMessage());
    }

    @Test
    void badValuesAreNamed() throws IOException {
        Path json = tmp.resolve("typed.json");
        Files.writeString(json, "{\"batch\": \"many\"}");
        var e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(json, TrainConfig.JSON.createObjectNode()));
        assertEquals(json + ": key 'batch' has a value of the wrong type", e.getMessage());
        Path broken = tmp.resolve("broken.yaml");
        Files.writeString(broken, "lr: [1\n");
        e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(broken, TrainConfig.JSON.createObjectNode()));
        assertTrue(e.getMessage().startsWith(broken + ": is not valid YAML"), e.getMessage());
        assertThrows(IOException.class, () -> TrainConfig.resolve(tmp.resolve("none.yaml"), TrainConfig.JSON.createObjectNode()));

        TrainConfig c = new TrainConfig();
        c.model = "m";
        c.out = "o";
        c.microBatch = 256;
        e = assertThrows(IllegalArgumentException.class, c::validate);
        assertEquals("--micro-batch 256 is larger than --batch 128", e.getMessage());
        c.microBatch = 4;
        c.schedule = "exp";
        e = assertThrows(IllegalArgumentException.class, c::validate);
        assertEquals("--schedule exp is not cosine, linear or constant", e.getMessage());
    }
}
