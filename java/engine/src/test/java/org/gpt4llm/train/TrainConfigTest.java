package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Defaults, then the config file, then flags; unknown keys and bad values are named. */
class TrainConfigTest {
    @TempDir
    Path tmp;

    @Test
    void defaultsAreTheAlpacaRecipe() {
        TrainConfig c = TrainConfig.builder().build();
        assertEquals(3, c.epochs());
        assertEquals(2e-5, c.lr());
        assertEquals(128, c.batch());
        assertEquals(0.0, c.weightDecay());
        assertEquals(0.03, c.warmupRatio());
        assertEquals("cosine", c.schedule());
        assertEquals(1.0, c.gradClip());
        assertEquals(512, c.maxLen());
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
        Map<String, Object> flags = Map.of("lr", 3e-4, "out", "runs/x", "micro-batch", 8);
        TrainConfig c = TrainConfig.resolve(yaml, flags).validate();
        assertEquals(3e-4, c.lr());
        assertEquals(64, c.batch());
        assertEquals(256, c.maxLen());
        assertEquals(8, c.microBatch());
        assertEquals("base", c.model());
        assertEquals(List.of("q_proj", "k_proj", "v_proj"), c.loraTargets());
        assertEquals(List.of("a.json"), c.data());
        assertEquals(3, c.epochs());

        // the saved config.json, given back as --config, resolves to the same values
        Path saved = tmp.resolve("config.json");
        c.save(saved);
        TrainConfig back = TrainConfig.resolve(saved, Map.of());
        assertEquals(c, back);
        assertEquals(c, c.toBuilder().build());
        assertTrue(Files.readString(saved).contains("\"max_len\" : 256"));
        // every key, in the order of the record
        assertEquals(List.of("model", "out", "backend", "seed", "data", "max_len", "epochs", "max_steps", "lr", "batch",
                "micro_batch", "warmup_ratio", "schedule", "weight_decay", "grad_clip", "eval_every", "save_every", "keep",
                "resume", "accept_changed_data", "lora_rank", "lora_alpha", "lora_dropout", "lora_targets", "train_on_inputs", "texts", "packing",
                "strict", "eval_fraction", "template", "eval_on_start", "margin", "center_rewards_coefficient", "loss", "beta", "label_smoothing",
                "reference_free", "cuda_graph",
                "recompute", "offload_optimizer"),
                keys(saved));
    }

    private static List<String> keys(Path json) throws IOException {
        List<String> keys = new java.util.ArrayList<>();
        TrainConfig.JSON.readTree(json.toFile()).fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    @Test
    void anUnknownKeyNamesTheFileAndTheKey() throws IOException {
        Path json = tmp.resolve("bad.json");
        Files.writeString(json, "{\"lr\": 1e-4, \"learning_rate\": 1e-4}");
        var e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(json, Map.of()));
        assertTrue(e.getMessage().startsWith(json + ": unknown key 'learning_rate'"), e.getMessage());
    }

    @Test
    void badValuesAreNamed() throws IOException {
        Path json = tmp.resolve("typed.json");
        Files.writeString(json, "{\"batch\": \"many\"}");
        var e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(json, Map.of()));
        assertEquals(json + ": key 'batch' has a value of the wrong type", e.getMessage());
        Path broken = tmp.resolve("broken.yaml");
        Files.writeString(broken, "lr: [1\n");
        e = assertThrows(IllegalArgumentException.class, () -> TrainConfig.resolve(broken, Map.of()));
        assertTrue(e.getMessage().startsWith(broken + ": is not valid YAML"), e.getMessage());
        assertThrows(IOException.class, () -> TrainConfig.resolve(tmp.resolve("none.yaml"), Map.of()));

        TrainConfig.Builder c = TrainConfig.builder().model("m").out("o").microBatch(256);
        e = assertThrows(IllegalArgumentException.class, () -> c.build().validate());
        assertEquals("--micro-batch 256 is larger than --batch 128", e.getMessage());
        c.microBatch(4).schedule("exp");
        e = assertThrows(IllegalArgumentException.class, () -> c.build().validate());
        assertEquals("--schedule exp is not cosine, linear or constant", e.getMessage());
    }
}
