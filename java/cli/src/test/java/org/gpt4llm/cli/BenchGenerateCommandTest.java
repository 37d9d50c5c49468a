package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import com.fasterxml.jackson.databind.JsonNode;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.bench.GenerateBench;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code bench generate} at toy size: both sides measured at each batch size, the same greedy tokens, a ratio per batch. */
class BenchGenerateCommandTest {
    @Test
    void reportsTokensPerSecondNextToLibtorch(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("generate.json");
        CliRun r = CliRun.of("bench", "generate", "--preset", "tiny", "--vocab", "300", "--prompt-len", "5",
                "--new-tokens", "6", "--repeats", "1", "--threads", "2", "--quiet", "--json", json.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("batch 1: ratio_vs_peer=") && r.out().contains("batch 8: ratio_vs_peer="), r.out());
        GenerateBench.Report n = JsonChecks.read(json, GenerateBench.Report.class);
        assertEquals(List.of(1, 1, 8, 8), n.rows().stream().map(GenerateBench.Row::batch).toList(),
                "ours and libtorch at batch 1 and 8: " + n.rows());
        assertEquals(List.of("ours (cpu)", "libtorch", "ours (cpu)", "libtorch"),
                n.rows().stream().map(GenerateBench.Row::side).toList());
        // the weight traffic: all parameters (tiny preset, fp32) read once per decode step, against the
        // bandwidth measured in the same run
        LlamaConfig cfg = LlamaConfig.preset("tiny", 300);
        long paramBytes;
        try (Backend be = Backends.open("cpu", 1); DecoderModel m = DecoderModels.initRandom(be, cfg, 0)) {
            // every weight once per step, but of an untied embedding table only the rows looked up (not counted)
            String embed = cfg.decoderPrefix() + "embed_tokens.weight";
            paramBytes = m.parameters().entrySet().stream()
                    .filter(e -> cfg.tieWordEmbeddings() || !e.getKey().equals(embed))
                    .mapToLong(e -> e.getValue().numel() * Float.BYTES).sum();
        }
        JsonNode tree = JsonChecks.tree(json);
        double bandwidth = JsonChecks.number(tree, "bandwidth_gb_per_s");
        assertTrue(bandwidth > 0, "bandwidth measured on the cpu backend: " + bandwidth);
        for (JsonNode row : JsonChecks.nonEmptyArray(tree, "rows")) {
            double tokensPerS = JsonChecks.number(row, "tokens_per_s");
            double read = JsonChecks.number(row, "read_gb_per_s");
            assertTrue(tokensPerS > 0 && JsonChecks.number(row, "prefill_s") > 0 && JsonChecks.number(row, "decode_s") > 0,
                    row.toString());
            assertEquals(paramBytes, JsonChecks.integer(row, "weight_bytes_per_token"), row.toString());
            long batch = JsonChecks.integer(row, "batch");
            assertEquals(paramBytes * tokensPerS / batch / 1e9, read, 1e-9 * read, "weights once per step: " + row);
            assertEquals(read / bandwidth, JsonChecks.number(row, "fraction_of_bandwidth"), 1e-9 * read / bandwidth,
                    row.toString());
            // the prefill's model FLOP rate against sgemm at its MLP shape, measured in the same run
            double prefill = JsonChecks.number(row, "prefill_gflops"), sgemm = JsonChecks.number(row, "prefill_sgemm_gflops");
            assertEquals(GenerateBench.prefillFlops(cfg, (int) batch, 5) / JsonChecks.number(row, "prefill_s") / 1e9, prefill,
                    1e-9 * prefill, row.toString());
            assertTrue(sgemm > 0, row.toString());
            assertEquals(prefill / sgemm, JsonChecks.number(row, "prefill_fraction_of_sgemm"), 1e-9 * prefill / sgemm,
                    row.toString());
        }
        assertTrue(r.out().contains("openblas sgemm at the prefill's MLP shape, batch 8 (40 x ffn x hidden)"), r.out());
        assertTrue(r.out().contains("memory bandwidth (y=a+b) in this run:"), r.out());
        assertTrue(r.out().contains("kernels on the " + CpuKernels.simdPath() + " path"), r.out());
        assertEquals(CpuKernels.simdPath().toString(), JsonChecks.text(tree, "model").replaceAll(".*kernels on the (.*) path$", "$1"));
        assertEquals(6, n.newTokens());
        // the same fp32 weights on both sides: greedy decoding agrees token for token at this size
        assertArrayEquals(new double[] {1.0, 1.0}, n.greedyAgreement(), 1e-9);
    }
}
