package org.gpt4llm.gpucheck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.gpt4llm.backend.cuda.device.CudaAvailability;
import org.gpt4llm.bench.KernelBench;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.Measurements;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm gpu-check report} over a check's results as bin/gpu-check leaves them: surefire
 * reports recorded from real runs of the check's test classes (resources gpucheck/surefire: run on
 * cuda-emu here, and one of {@code -Dgpt4llm.targets=cuda} on a machine without a GPU, which fails),
 * measurements written by {@link Measurements}, the device as {@code gpu-check device} writes it, and
 * the JSON of {@code bench kernels} and {@code bench step} run here on cuda-emu.
 */
class GpuCheckReportTest {
    @TempDir
    Path dir;

    private static Path resource(String name) throws URISyntaxException {
        return Path.of(GpuCheckReportTest.class.getResource("/org/gpt4llm/gpucheck/" + name).toURI());
    }

    /** The recorded reports of the check's families, copied so that a test may change them. */
    private Path surefire(String module) throws Exception {
        Path to = dir.resolve("surefire").resolve(module);
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(resource("surefire/" + module))) {
            for (Path f : s.toList()) Files.copy(f, to.resolve(f.getFileName()));
        }
        return to;
    }

    private Path device() throws IOException {
        Path f = dir.resolve("device.json");
        AtomicFiles.writeJson(f, new GpuCheckReport.DeviceInfo("NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)", "sm_90 cubin", "12.4"));
        return f;
    }

    private Path parts(Map<String, Integer> exits) throws IOException {
        StringBuilder b = new StringBuilder();
        exits.forEach((name, exit) -> b.append(name).append('\t').append(exit).append("\t12.5\t")
                .append(dir.resolve(name.replace(' ', '-') + ".log")).append('\n'));
        Path f = dir.resolve("parts.tsv");
        Files.writeString(f, b);
        return f;
    }

    private static Map<String, Integer> allPassed() {
        Map<String, Integer> m = new LinkedHashMap<>();
        for (String p : new String[] {GpuCheckReport.BUILD, GpuCheckReport.DEVICE, GpuCheckReport.TESTS,
                GpuCheckReport.BENCH_KERNELS, GpuCheckReport.BENCH_STEP}) {
            m.put(p, 0);
        }
        return m;
    }

    private Path benchKernels() {
        Path f = dir.resolve("bench-kernels.json");
        CliRun r = CliRun.of("bench", "kernels", "--backend", "cuda-emu", "--samples", "1", "--warmup", "0", "--kernels",
                "rmsnorm", "--quiet", "--json", f.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        return f;
    }

    private Path benchStep() {
        Path f = dir.resolve("bench-step.json");
        CliRun r = CliRun.of("bench", "step", "--backend", "cuda-emu", "--compare", "none", "--preset", "tiny", "--vocab", "301",
                "--batch", "2", "--seq", "16", "--steps", "1", "--warmup", "0", "--quiet", "--json", f.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        return f;
    }

    private CliRun report(Path parts, Path engine, Path reference, Path measurements, Path kernels, Path step, Path json)
            throws IOException {
        return CliRun.of("gpu-check", "report", "--parts", parts.toString(), "--device", device().toString(),
                "--surefire", engine + "," + reference, "--measurements", measurements.toString(),
                "--bench-kernels", kernels.toString(), "--bench-step", step.toString(), "--json", json.toString());
    }

    private static Map<String, JsonNode> linesByCheck(JsonNode report) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        for (JsonNode l : JsonChecks.nonEmptyArray(report, "lines")) out.put(JsonChecks.text(l, "check"), l);
        return out;
    }

    @Test
    void aCompleteRunPassesWithALinePerTestClassAndBenchmark() throws Exception {
        Path measurements = dir.resolve("measurements.jsonl");
        String norm = "org.gpt4llm.backend.contract.NormContractTest";
        // the worst is the one closest to its bound, not the largest value
        Measurements.append(measurements, List.of(
                new Measurements.Line(norm, "rmsnorm dx", "cuda", 2e-3, 5e-3),
                new Measurements.Line(norm, "rmsnorm dw", "cuda", 9e-5, 1e-4)));
        Measurements.append(measurements, List.of(
                new Measurements.Line("org.gpt4llm.backend.cuda.CudaBackendsLlamaStepTest", "llama step logits", "cuda",
                        8e-3, 3e-2)));
        Path json = dir.resolve("gpu-check.json");
        CliRun r = report(parts(allPassed()), surefire("engine"), surefire("reference"), measurements, benchKernels(),
                benchStep(), json);
        assertEquals(0, r.code(), r.out() + r.err());
        String table = r.out();
        assertTrue(table.startsWith("check "), table);
        assertTrue(table.contains("every line passed on NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB)"), table);

        JsonNode n = JsonChecks.tree(json);
        assertTrue(JsonChecks.required(n, "ok").asBoolean(), n.toString());
        assertEquals(0, (int) JsonChecks.number(n, "failed_lines"));
        Map<String, JsonNode> lines = linesByCheck(n);
        // build and device, a line per recorded class (13), the two benchmarks
        assertEquals(List.of("build", "device", "contract Norm", "contract Rope", "launches Attention", "launches Norm",
                "device basics", "LLaMA training step", "OPT training step", "LoRA step", "reward-model step",
                "KV-cache decoding", "graph capture and replay", "device step budget", "NCCL collectives", "bench kernels",
                "bench step"),
                new ArrayList<>(lines.keySet()));
        for (JsonNode l : lines.values()) {
            assertTrue(JsonChecks.required(l, "ok").asBoolean(), l.toString());
            assertFalse(JsonChecks.text(l, "compares").isBlank(), l.toString());
        }
        assertEquals("worst: rmsnorm dw 9.00e-05 (bound 1e-04) on cuda", JsonChecks.text(lines.get("contract Norm"), "detail"));
        assertEquals("worst: llama step logits 8.00e-03 (bound 3e-02) on cuda",
                JsonChecks.text(lines.get("LLaMA training step"), "detail"));
        assertEquals("exact checks", JsonChecks.text(lines.get("launches Norm"), "detail"));
        assertEquals("pass 62", JsonChecks.text(lines.get("contract Norm"), "result"));
        // recorded without a GPU: the device tests that need one were skipped, and say so
        assertTrue(JsonChecks.text(lines.get("device basics"), "result").matches("pass 4 \\(6 skipped\\)"),
                lines.get("device basics").toString());
        assertTrue(JsonChecks.number(lines.get("graph capture and replay"), "seconds") > 1, "surefire's time of the class");
        // recorded without a GPU or libnccl: the NCCL line says it was skipped and why, and does not fail the check
        assertEquals("skipped", JsonChecks.text(lines.get("NCCL collectives"), "result"));
        assertTrue(JsonChecks.text(lines.get("NCCL collectives"), "detail").startsWith(
                "needs libnccl.so.2 and a GPU: no GPU here: no NVIDIA driver"), lines.get("NCCL collectives").toString());
        assertTrue(JsonChecks.text(lines.get("device"), "detail").contains("driver for CUDA 12.4; kernels: sm_90 cubin"));
        assertTrue(JsonChecks.text(lines.get("bench kernels"), "detail").matches("\\d+ cases; best .* GB/s \\(tiny rmsnorm.*"),
                lines.get("bench kernels").toString());
        assertTrue(JsonChecks.text(lines.get("bench step"), "detail").matches("llama tiny, batch 2 x 16: median step .* s, .*"
                + " tokens/s, .* model TFLOP/s; first loss \\d+\\.\\d{3}"), lines.get("bench step").toString());
        assertEquals(12.5, JsonChecks.number(lines.get("bench step"), "seconds"));
        assertEquals(5 * 12.5, JsonChecks.number(n, "seconds"));
        for (String check : lines.keySet()) assertTrue(table.contains(check + " "), check + " missing from the table\n" + table);
    }

    @Test
    void failedTestsMissingFamiliesAndBrokenBenchmarksFailTheirLines() throws Exception {
        Path engine = surefire("engine");
        // -Dgpt4llm.targets=cuda on a machine without a GPU: every test of the class fails with the reason
        Files.copy(resource("failing/TEST-org.gpt4llm.backend.cuda.kernels.NormLaunchTest.xml"),
                engine.resolve("TEST-org.gpt4llm.backend.cuda.kernels.NormLaunchTest.xml"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.delete(engine.resolve("TEST-org.gpt4llm.train.DeviceStepTest.xml"));
        Path kernels = dir.resolve("bench-kernels.json");
        AtomicFiles.writeJson(kernels, new KernelBench.Report("kernels", "NVIDIA H100", "CUDA events", "cuBLAS", "none", 20, 3,
                Map.of("1b", "TinyLlama"), List.of(
                        new KernelBench.Report.Kernel("1b", "rmsnorm fwd", null, 1e-5, 800.0, null, null, null, null, null),
                        new KernelBench.Report.Kernel("1b", "attention fwd", "CudaException: cuLaunchKernel failed: "
                                + "CUDA_ERROR_INVALID_VALUE", null, null, null, null, null, null, null)), List.of()));
        Map<String, Integer> exits = allPassed();
        exits.put(GpuCheckReport.BENCH_STEP, 1);
        Path json = dir.resolve("gpu-check.json");
        CliRun r = report(parts(exits), engine, surefire("reference"), dir.resolve("no-measurements.jsonl"), kernels,
                dir.resolve("bench-step.json"), json);
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("4 of 17 lines FAILED"), r.out());

        JsonNode n = JsonChecks.tree(json);
        assertFalse(JsonChecks.required(n, "ok").asBoolean());
        assertEquals(4, (int) JsonChecks.number(n, "failed_lines"));
        Map<String, JsonNode> lines = linesByCheck(n);
        JsonNode launches = lines.get("launches Norm");
        assertEquals("FAIL 2 of 2", JsonChecks.text(launches, "result"));
        assertEquals("cuda", JsonChecks.text(launches, "targets"));
        assertTrue(JsonChecks.text(launches, "detail").contains("names cuda, which cannot run here: the NVIDIA driver libcuda.so.1"),
                launches.toString());
        assertEquals(2, JsonChecks.nonEmptyArray(launches, "problems").size());
        JsonNode budget = lines.get("device step budget");
        assertEquals("FAIL", JsonChecks.text(budget, "result"));
        assertEquals("did not run: DeviceStepTest has no surefire report", JsonChecks.text(budget, "detail"));
        assertEquals("1 of 2 cases failed, first attention fwd: CudaException: cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE",
                JsonChecks.text(lines.get("bench kernels"), "detail"));
        assertEquals("bench step exited 1, see " + dir.resolve("bench-step.log"), JsonChecks.text(lines.get("bench step"), "detail"));
        for (String ok : new String[] {"launches Attention", "contract Norm", "device basics"}) {
            assertTrue(JsonChecks.required(lines.get(ok), "ok").asBoolean(), lines.get(ok).toString());
        }
    }

    @Test
    void aMalformedPartsFileIsNamedWithItsLine() throws Exception {
        Path parts = dir.resolve("parts.tsv");
        Files.writeString(parts, "build\t0\t3.5\tbuild.log\ntests\tzero\t1\ttests.log\n");
        CliRun r = report(parts, surefire("engine"), surefire("reference"), dir.resolve("m.jsonl"), dir.resolve("k.json"),
                dir.resolve("s.json"), dir.resolve("out.json"));
        assertEquals(2, r.code(), r.err());
        String sentence = "gpt4llm gpu-check report: " + parts + " line 2 is not \"name<TAB>exit<TAB>seconds<TAB>log\"";
        assertTrue(r.err().strip().startsWith(sentence), r.err());
        assertFalse(Files.exists(dir.resolve("out.json")));
    }

    @Test
    void theTestPatternSelectsEveryFamilyAndNamesItsClasses() {
        CliRun r = CliRun.of("gpu-check", "tests");
        assertEquals(0, r.code(), r.err());
        assertEquals(GpuChecks.testPattern(), r.out().strip());
        assertTrue(r.out().startsWith("*ContractTest,*LaunchTest,CudaDeviceTest,"), r.out());
        assertTrue(r.out().contains(",DecodeSessionTest#*OnCudaBackends*,"), r.out());
        assertEquals("contract Norm", GpuChecks.familyOf("NormContractTest").orElseThrow().nameOf("NormContractTest").orElseThrow());
        assertEquals("KV-cache decoding", GpuChecks.familyOf("DecodeSessionTest").orElseThrow().nameOf("DecodeSessionTest")
                .orElseThrow());
        assertTrue(GpuChecks.familyOf("DecodeSessionTestHelper").isEmpty());
    }

    @Test
    void theDeviceStepRefusesWithOneSentenceWithoutAGpu() {
        assumeFalse(CudaAvailability.driverPresent(), "this machine has an NVIDIA driver");
        CliRun r = CliRun.of("gpu-check", "device", "--json", dir.resolve("device.json").toString());
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm gpu-check device: " + CudaAvailability.NO_DRIVER, r.err().strip());
        assertFalse(Files.exists(dir.resolve("device.json")));
    }
}
