package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.EndedProcess;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm merge-lora}: the merged checkpoint gives the logits of base + adapter; bad folders are one sentence. */
class MergeLoraCommandTest {
    @Test
    void mergedCheckpointMatchesBasePlusAdapter(@TempDir Path dir) throws Exception {
        Path base = dir.resolve("base"), adapter = dir.resolve("adapter"), merged = dir.resolve("merged");
        assertEquals(0, CliRun.of("init-model", "--preset", "tiny", "--vocab", "101", "--out", base.toString()).code());
        Files.writeString(base.resolve("tokenizer.json"), "{}");
        Random rng = new Random(TestSeeds.next());
        int[][] rows = {rng.ints(11, 0, 101).toArray(), rng.ints(6, 0, 101).toArray()};
        TokenBatch batch = TokenBatch.causalLm(rows, 0);
        float[] expected;
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(2);
             DecoderModel m = DecoderModels.load(backend, base)) {
            m.enableLora(new LoraConfig(4, 8f, 0.1f, List.of("q_proj", "v_proj", "down_proj")), 1);
            for (Tensor t : m.trainableParameters().values()) {
                backend.upload(t, Tensor.of(arena, Numerics.normal(rng, (int) t.numel(), 0.05f), t.shape()));
            }
            m.saveAdapter(adapter, base.toString());
            m.setTraining(false);
            m.forward(batch);
            expected = m.logits().toFloatArray();
        }
        // what a killed merge into the same folder left: temp files of a process that is gone
        Files.createDirectories(merged);
        long gone = EndedProcess.pid();
        Files.writeString(merged.resolve(".tokenizer.json.write-" + gone + "-00000000000000a1.tmp"), "{");
        Files.writeString(merged.resolve(".model.safetensors.write-" + gone + "-00000000000000a2.tmp"), "half");
        CliRun r = CliRun.of("merge-lora", "--model", base.toString(), "--adapter", adapter.toString(), "--out", merged.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(merged.resolve("tokenizer.json")), "tokenizer files carried over");
        try (var files = Files.list(merged)) {
            assertEquals(List.of("config.json", "model.safetensors", "tokenizer.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList(), "the stopped merge's temps are gone");
        }
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json")) {
            FilePermissions.assertUmaskDefault(merged.resolve(f));
        }
        try (CpuBackend backend = new CpuBackend(2);
             DecoderModel m = DecoderModels.load(backend, merged)) {
            m.forward(batch);
            double err = Numerics.relErr(m.logits().toFloatArray(), expected);
            assertTrue(err < 1e-5, "merged logits rel err " + err);
        }
        r = CliRun.of("merge-lora", "--model", base.toString(), "--adapter", dir.resolve("none").toString(), "--out",
                dir.resolve("m2").toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm merge-lora: " + dir.resolve("none") + " has no adapter_config.json: not a PEFT adapter folder\n",
                r.err());
    }

}
