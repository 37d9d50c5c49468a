package org.gpt4llm.gpucheck;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.backend.cuda.device.CudaLibraries;
import org.gpt4llm.testing.ProjectFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/gpu-check on a machine that cannot run the cuda backend: one sentence naming the library that
 * is missing, exit status 1, and nothing built or written (it asks before building).
 */
class GpuCheckScriptTest {
    @Test
    void withoutAGpuItSaysWhatIsMissingInOneSentenceAndStops(@TempDir Path dir) throws Exception {
        assumeTrue(CudaLibraries.missing().isPresent(), "this machine can run the cuda backend");
        Path out = dir.resolve("results"), stdout = dir.resolve("stdout"), stderr = dir.resolve("stderr");
        Process p = new ProcessBuilder(ProjectFiles.get("bin/gpu-check").toString(), "--out", out.toString())
                .directory(dir.toFile()).redirectOutput(stdout.toFile()).redirectError(stderr.toFile()).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "bin/gpu-check did not stop within a minute without a GPU");
        String err = Files.readString(stderr, StandardCharsets.UTF_8);
        assertEquals(1, p.exitValue(), err);
        assertEquals("gpu-check: cannot check the GPU path: " + CudaLibraries.missing().get() + "\n", err);
        assertTrue(err.contains("libcuda.so.1") || err.contains("libcublas.so.12"), err);
        assertEquals("", Files.readString(stdout, StandardCharsets.UTF_8));
        assertFalse(Files.exists(out), "the results folder was created before the GPU was asked for");
    }
}
