package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.bench.GenerateBench;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --dtype} of the commands that run a model on the cpu: a bf16 checkpoint runs in bf16 by default,
 * an fp32 one converts on load, LoRA trains over a bf16 base, full fine-tuning of half weights and an
 * unknown type are refused in one sentence, and {@code bench generate} measures bf16 weights against fp32.
 */
class WeightTypeCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path fp32, bf16, f16;
    static String data, vicuna;

    /** The tiny preset three times from one seed: in fp32, and in bf16 and f16 (the same values rounded). */
    @BeforeAll
    static void tinyModels() {
        CpuKernels.widenHalfWeights(); // bf16 weights answer as their widening (an AVX512_BF16 CPU rounds activations)
        data = SharedFiles.get("data/alpaca_gpt4_en_1k.json").toString();
        vicuna = SharedFiles.get("data/vicuna_question_80.jsonl").toString();
        Path tok = dir.resolve("tok");
        fp32 = dir.resolve("fp32");
        bf16 = dir.resolve("bf16");
        f16 = dir.resolve("f16");
        ok(CliRun.of("init-tokenizer", "--data", data, "--vocab", "400", "--out", tok.toString()));
        for (Path out : new Path[] {fp32, bf16, f16}) {
            ok(CliRun.of("init-model", "--preset", "tiny", "--tokenizer", tok.toString(), "--out", out.toString(),
                    "--seed", "7", "--dtype", out.getFileName().toString()));
        }
        assertEquals(DType.BF16, Checkpoint.storedType(bf16));
        assertEquals(DType.F16, Checkpoint.storedType(f16));
        assertEquals(DType.F32, Checkpoint.storedType(fp32));
        CliRun r = CliRun.of("init-model", "--preset", "tiny", "--out", dir.resolve("int8").toString(), "--dtype", "int8");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm init-model: --dtype int8 is not f32, bf16 or f16", r.err().strip());
    }

    @AfterAll
    static void bestPath() {
        CpuKernels.forceSimdPath(null);
    }

    private static CliRun ok(CliRun r) {
        assertEquals(0, r.code(), r.out() + r.err());
        return r;
    }

    private static List<String> answers(Path model, String name, String... more) throws Exception {
        Path out = dir.resolve(name + ".jsonl");
        List<String> args = new ArrayList<>(List.of("generate", "--model", model.toString(), "--questions", vicuna,
                "--out", out.toString(), "--limit", "3", "--max-new-tokens", "10", "--temperature", "0", "--threads", "2"));
        args.addAll(List.of(more));
        ok(CliRun.of(args.toArray(String[]::new)));
        List<String> texts = new ArrayList<>();
        for (String line : Files.readAllLines(out)) texts.add(JsonChecks.text(JSON.readTree(line), "text"));
        assertEquals(3, texts.size(), out.toString());
        return texts;
    }

    /**
     * bf16 weights and their fp32 widening give the same greedy answers (the kernels widen them and sum
     * in the same order), so the bf16 checkpoint by default, the fp32 one converted on load and the bf16
     * one widened to f32 all answer alike.
     */
    @Test
    void generateRunsTheCheckpointsTypeOrTheOneAskedFor() throws Exception {
        List<String> byDefault = answers(bf16, "default");
        assertEquals(byDefault, answers(fp32, "converted", "--dtype", "bf16"), "an fp32 checkpoint run in bf16");
        assertEquals(byDefault, answers(bf16, "widened", "--dtype", "f32"), "a bf16 checkpoint widened to fp32");
        assertFalse(String.join("", byDefault).isBlank(), "the answers hold text: " + byDefault);
        assertEquals(answers(f16, "f16"), answers(fp32, "converted-f16", "--dtype", "f16"), "f16 alike");

        CliRun r = CliRun.of("generate", "--model", bf16.toString(), "--questions", vicuna, "--out",
                dir.resolve("bad.jsonl").toString(), "--dtype", "int8");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm generate: --dtype int8 is not f32, bf16 or f16", r.err().strip());
        r = CliRun.of("serve", "--model", bf16.toString(), "--port", "0", "--dtype", "f8");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm serve: --dtype f8 is not f32, bf16 or f16", r.err().strip());
    }

    @Test
    void loraTrainsOverABf16BaseAndFullFineTuningIsRefused() throws Exception {
        Path lora = dir.resolve("lora");
        ok(CliRun.of("sft", "--model", bf16.toString(), "--data", data, "--out", lora.toString(), "--max-len", "256",
                "--batch", "4", "--max-steps", "2", "--lora-rank", "4", "--threads", "2", "--quiet"));
        assertTrue(Files.isRegularFile(lora.resolve("final/adapter_model.safetensors")), "the adapter is saved");
        List<JsonNode> losses = new ArrayList<>();
        for (String line : Files.readAllLines(lora.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            if (n.has("loss")) losses.add(n);
        }
        assertFalse(losses.isEmpty(), "metrics.jsonl holds training losses");
        for (JsonNode n : losses) assertTrue(Double.isFinite(JsonChecks.number(n, "loss")), n.toString());

        Path full = dir.resolve("full");
        CliRun r = CliRun.of("sft", "--model", fp32.toString(), "--data", data, "--out", full.toString(), "--max-len", "256",
                "--max-steps", "2", "--dtype", "bf16", "--threads", "2");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm sft: --dtype bf16 keeps the weights frozen on the cpu: full fine-tuning needs --dtype f32,"
                + " or give --lora-rank to train adapters over a bf16 base", r.err().strip());
        assertFalse(Files.exists(full.resolve("final")), "nothing trained");
    }

    /** bf16 weights against the same weights in fp32: half the matrix bytes per token, the same greedy tokens. */
    @Test
    void benchGenerateMeasuresBf16AgainstFp32() throws Exception {
        Path json = dir.resolve("bench.json");
        CliRun r = ok(CliRun.of("bench", "generate", "--preset", "tiny", "--vocab", "300", "--prompt-len", "5",
                "--new-tokens", "6", "--repeats", "1", "--batches", "1", "--threads", "2", "--dtype", "bf16",
                "--compare", "f32", "--quiet", "--json", json.toString()));
        JsonNode tree = JsonChecks.tree(json);
        List<JsonNode> rows = new ArrayList<>();
        JsonChecks.nonEmptyArray(tree, "rows").forEach(rows::add);
        assertEquals(2, rows.size(), tree.toString());
        assertEquals("ours (cpu, bf16)", JsonChecks.text(rows.get(0), "side"));
        assertEquals("ours (cpu, f32)", JsonChecks.text(rows.get(1), "side"));
        double half = JsonChecks.integer(rows.get(0), "weight_bytes_per_token");
        double full = JsonChecks.integer(rows.get(1), "weight_bytes_per_token");
        // matrices in bf16, the few norm vectors in fp32: just over half
        assertTrue(half > 0.5 * full && half < 0.51 * full, half + " bytes per token against " + full);
        for (JsonNode row : rows) {
            assertTrue(JsonChecks.number(row, "fraction_of_bandwidth") > 0, row.toString());
        }
        GenerateBench.Report report = JsonChecks.read(json, GenerateBench.Report.class);
        assertEquals(1, report.greedyAgreement().length, r.out());
        assertEquals(1.0, report.greedyAgreement()[0], 1e-9, "the same weights: " + r.out());
    }
}
