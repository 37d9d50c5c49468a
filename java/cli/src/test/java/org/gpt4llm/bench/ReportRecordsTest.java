package org.gpt4llm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;

/**
 * The report records as JSON: the keys the reports have always had, "no peer" as null, and a strict
 * read back ({@link JsonChecks#read}) that fails when a key is missing, so that a check on it cannot
 * pass on nothing.
 */
class ReportRecordsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aRowWithoutAPeerHasNullPeerAndRatio() {
        BenchSuite.Row jvm = BenchSuite.Row.of("jvm", "SamplerBench.next", 12.5, Double.NaN, "none", "us/op", "");
        ObjectNode n = JSON.valueToTree(jvm);
        assertEquals(List.of("section", "benchmark", "ours", "peer", "peer_name", "ratio", "unit", "note"), names(n));
        assertTrue(n.get("peer").isNull() && n.get("ratio").isNull(), n.toString());
        BenchSuite.Row back = JsonChecks.read(n, BenchSuite.Row.class);
        assertTrue(Double.isNaN(back.peer()) && Double.isNaN(back.ratio()), back.toString());
        BenchSuite.Row step = BenchSuite.Row.of("step", "train step", 300, 200, "libtorch", "tokens/s", "");
        assertEquals(1.5, JsonChecks.read(JSON.valueToTree(step), BenchSuite.Row.class).ratio());
        n.remove("ratio");
        assertThrows(AssertionError.class, () -> JsonChecks.read(n, BenchSuite.Row.class), "a row without its ratio");
    }

    @Test
    void aKernelCaseWithoutItsRelativeErrorFailsTheRead() {
        BenchSuite.KernelCase c = new BenchSuite.KernelCase("rmsnorm fwd", "GB/s", 8e6, 1e-4, 2e-4, 80, 40, "libtorch", 3e-7);
        ObjectNode n = JSON.valueToTree(c);
        assertEquals(List.of("name", "unit", "work_per_call", "ours_median_s", "peer_median_s", "ours", "peer", "peer_name",
                "rel_err"), names(n));
        assertEquals(c, JsonChecks.read(n, BenchSuite.KernelCase.class));
        n.remove("rel_err");
        assertThrows(AssertionError.class, () -> JsonChecks.read(n, BenchSuite.KernelCase.class));
        n.putNull("rel_err");
        assertThrows(AssertionError.class, () -> JsonChecks.read(n, BenchSuite.KernelCase.class));
    }

    /** A full step compared with nothing on a GPU backend: no LoRA keys, no peer, no CPU ceiling. */
    @Test
    void aStepReportLeavesOutWhatWasNotMeasured() {
        StepBench.Report.Side ours = new StepBench.Report.Side(2, 0, 0.5, 96, 1.2, 5.7f, new double[] {0.5});
        StepBench.Report r = new StepBench.Report("step", "tiny", 301, 2, 24, 1, 0, null, null, null, 123456, 48, 6e8, ours,
                null, null, null, null, null, null, null, null, "OpenBLAS", 2, 0.5, 0.6, List.of(), false, 1000, 990);
        JsonNode n = JSON.valueToTree(r);
        assertEquals(List.of("bench", "preset", "vocab", "batch", "seq", "steps", "warmup", "parameters", "tokens_per_step",
                "model_flops_per_step", "ours", "openblas", "cores", "load_average_before", "load_average_after",
                "device_counters", "cuda_graph", "peak_device_bytes", "planned_device_bytes"), names(n));
        assertEquals(List.of("threads", "blas_threads", "median_step_s", "tokens_per_s", "gflops", "first_loss", "step_s"),
                names(n.get("ours")));
        assertEquals(5.7f, JsonChecks.read(n.get("ours"), StepBench.Report.Side.class).firstLoss());
        // the strict read of the whole report asks for every key, so it refuses this one
        assertThrows(AssertionError.class, () -> JsonChecks.read(n, StepBench.Report.class));
    }

    @Test
    void aGenerateReportWithoutItsAgreementFailsTheRead() {
        GenerateBench.Report r = new GenerateBench.Report("llama tiny", 5, 6, 1, Double.NaN,
                List.of(new GenerateBench.Row("ours (cpu)", 1, 0.01, 0.02, 250, 4_000_000, 1.0, Double.NaN, 2.5, Double.NaN,
                        Double.NaN)),
                new double[] {Double.NaN});
        ObjectNode n = JSON.valueToTree(r);
        assertEquals(List.of("model", "prompt_len", "new_tokens", "repeats", "bandwidth_gb_per_s", "rows", "greedy_agreement"),
                names(n));
        assertEquals(List.of("side", "batch", "prefill_s", "decode_s", "tokens_per_s", "weight_bytes_per_token", "read_gb_per_s",
                "fraction_of_bandwidth", "prefill_gflops", "prefill_sgemm_gflops", "prefill_fraction_of_sgemm"), names(n.get("rows").get(0)));
        JsonNode row = n.get("rows").get(0);
        assertTrue(n.get("bandwidth_gb_per_s").isNull() && row.get("fraction_of_bandwidth").isNull(),
                "no bandwidth measured, no fraction: " + n);
        assertTrue(row.get("prefill_sgemm_gflops").isNull() && row.get("prefill_fraction_of_sgemm").isNull(),
                "no sgemm measured, no fraction: " + n);
        assertTrue(Double.isNaN(JsonChecks.read(n, GenerateBench.Report.class).greedyAgreement()[0]), "NaN without a peer");
        n.remove("greedy_agreement");
        assertThrows(AssertionError.class, () -> JsonChecks.read(n, GenerateBench.Report.class));
    }

    @Test
    void aJmhRowKeepsItsKeys() {
        JmhBench.Row row = new JmhBench.Row("org.gpt4llm.bench.jmh.RougeBench.scoreText", "", "avgt", 3.2, Double.NaN, "us/op", 2);
        ObjectNode n = JSON.valueToTree(row);
        assertEquals(List.of("benchmark", "params", "mode", "score", "error_99_9", "unit", "samples"), names(n));
        assertTrue(n.get("error_99_9").isNull(), "too few samples for an interval: " + n);
        assertFalse(Double.isFinite(JsonChecks.read(n, JmhBench.Row.class).error()));
    }

    private static List<String> names(JsonNode n) {
        List<String> out = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }
}
