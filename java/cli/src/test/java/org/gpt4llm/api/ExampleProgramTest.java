package org.gpt4llm.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.testing.ProjectFiles;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code examples/FineTuneAndGenerate.java} runs as a single-file program in a child JVM on the
 * test's classpath (as {@code examples/run} runs it on the jar's) over stories260K: it generates
 * before and after, its loss falls step by step, and the adapter it saves loads back.
 */
class ExampleProgramTest {
    @TempDir
    Path tmp;

    @Test
    void fineTuneAndGenerateRunsAndItsLossFalls() throws Exception {
        Path program = ProjectFiles.get("examples/FineTuneAndGenerate.java");
        Path gguf = SharedFiles.get("models/stories260K.gguf");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        if (Runtime.version().feature() >= 24) cmd.add("--sun-misc-unsafe-memory-access=allow");
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), program.toString(),
                "--model", gguf.toString(), "--steps", "6", "--threads", "2", "--out", tmp.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), "the example finishes");
        System.out.println(out);
        assertEquals(0, p.exitValue(), out);

        assertTrue(out.contains("model: " + gguf + " (llama, 292,800 parameters) on cpu"), out);
        String before = line(out, "before: "), after = line(out, "after: ");
        assertFalse(before.isBlank(), "text generated before training");
        assertFalse(after.isBlank(), "text generated after training");
        Matcher m = Pattern.compile("(?m)^step (\\d+) loss ([0-9.]+) ").matcher(out);
        List<Double> losses = new ArrayList<>();
        while (m.find()) {
            assertEquals(losses.size() + 1, Integer.parseInt(m.group(1)));
            losses.add(Double.parseDouble(m.group(2)));
        }
        assertEquals(6, losses.size(), out);
        double start = Double.parseDouble(line(out, "loss before training: "));
        double end = Double.parseDouble(line(out, "loss after training: "));
        assertTrue(losses.getLast() < losses.getFirst(), "the step loss falls: " + losses);
        assertTrue(end < 0.8 * start, "the loss on the examples falls: " + start + " -> " + end);
        assertTrue(Files.isRegularFile(tmp.resolve("adapter/adapter_model.safetensors")));

        // the saved adapter gives the text the program printed after training
        try (Engine engine = Engine.open("cpu", 2);
             Model tuned = engine.load(tmp.resolve("model"), tmp.resolve("adapter"))) {
            String prompt = tuned.prompt(org.gpt4llm.data.Template.ALPACA, "Tell me a story about Tim.", "");
            assertEquals(after, tuned.generate(prompt, org.gpt4llm.generate.SamplingParams.greedy(32)).text().strip());
        }
    }

    /** The text after {@code prefix} on the line that starts with it. */
    private static String line(String out, String prefix) {
        for (String l : out.split("\n")) if (l.startsWith(prefix)) return l.substring(prefix.length());
        throw new AssertionError("no line starting with '" + prefix + "' in:\n" + out);
    }
}
