package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code gpt4llm eval judge} and {@code eval bestofn} against a local judge server, resumed, and summed from reviews alone. */
class EvalJudgeCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern ANSWER = Pattern.compile("(\\w+)-ANSWER q=(\\d+)");

    /** FastChat answers of {@code model} to questions 1..n, each carrying "{@code marker}-ANSWER q=<id>". */
    static Path answers(Path dir, String file, String model, String marker, int n) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (int q = 1; q <= n; q++) {
            sb.append(JSON.writeValueAsString(java.util.Map.of("question_id", q, "answer_id", model + q, "model_id", model,
                    "text", "answer " + marker + "-ANSWER q=" + q))).append('\n');
        }
        return Files.writeString(dir.resolve(file), sb.toString());
    }

    /** The model (marker M<k>) scores 9 - k, the reference (REF) 8, in whichever order they are shown. */
    static String judge(String prompt) {
        Matcher m = ANSWER.matcher(prompt);
        double[] shown = new double[2];
        for (int i = 0; i < 2 && m.find(); i++) shown[i] = m.group(1).equals("REF") ? 8 : 9 - Integer.parseInt(m.group(1).substring(1));
        return (int) shown[0] + " " + (int) shown[1] + "\nexplanation";
    }

    @Test
    void judgesResumesAndReports(@TempDir Path dir) throws Exception {
        Path questions = SharedFiles.get("data/vicuna_question_80.jsonl");
        Path model = answers(dir, "m.jsonl", "llama-gpt4", "M2", 4), ref = answers(dir, "ref.jsonl", "gpt-4", "REF", 4);
        Path out = dir.resolve("judge");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(EvalJudgeCommandTest::judge).start()) {
            String[] args = {"eval", "judge", "--questions", questions.toString(), "--answers", model.toString(), "--reference", ref.toString(),
                    "--out", out.toString(), "--api-base", server.apiBase(), "--api-key-env", "NO_KEY_HERE", "--quiet"};
            CliRun dry = CliRun.of(concat(args, "--dry-run"));
            assertEquals(0, dry.code(), dry.err());
            assertEquals(0, server.requestCount());
            assertTrue(dry.out().contains("8 items, 0 already done, 8 to do"), dry.out());
            assertTrue(dry.out().contains("[The Start of Assistant 1's Answer]\\nanswer M2-ANSWER q=1"), dry.out());
            assertTrue(!Files.exists(out.resolve("reviews-llama-gpt4.jsonl")));
            CliRun first = CliRun.of(concat(args, "--limit", "3"));
            assertEquals(1, first.code(), first.err()); // not complete yet
            assertEquals(3, server.requestCount());
            CliRun second = CliRun.of(args);
            assertEquals(0, second.code(), second.err());
            assertEquals(8, server.requestCount()); // both orders of 4 questions, none twice
            assertTrue(second.out().contains("llama-gpt4 vs gpt-4: relative score 87.5%"), second.out());
            assertEquals(8, Files.readAllLines(out.resolve("reviews-llama-gpt4.jsonl")).size());
            JsonNode report = JSON.readTree(out.resolve("judge.json").toFile());
            JsonNode overall = report.get("results").get(0).get("overall");
            assertEquals(28, overall.get("model_total").asDouble()); // 4 questions · 7
            assertEquals(32, overall.get("reference_total").asDouble());
            assertEquals(4, overall.get("losses").asInt());
            assertTrue(Files.size(out.resolve("judge.png")) > 1000);
            assertTrue(Files.readString(out.resolve("judge.md")).contains("87.5%"));
            assertEquals(2, Files.readAllLines(out.resolve("judge.usage.jsonl")).size()); // one line per run
        }

        // the reviews alone give the same report
        CliRun again = CliRun.of("eval", "judge", "--reviews", out.resolve("reviews-llama-gpt4.jsonl").toString(), "--out", dir.resolve("sum").toString());
        assertEquals(0, again.code(), again.err());
        assertEquals(JSON.readTree(out.resolve("judge.json").toFile()), JSON.readTree(dir.resolve("sum/judge.json").toFile()));
    }

    @Test
    void bestofnOverThreeGroups(@TempDir Path dir) throws Exception {
        Path questions = SharedFiles.get("data/vicuna_question_80.jsonl");
        List<Path> groups = List.of(answers(dir, "a-top1.jsonl", "llama", "M1", 3), answers(dir, "a-top2.jsonl", "llama", "M2", 3),
                answers(dir, "a-top3.jsonl", "llama", "M3", 3));
        Path ref = answers(dir, "ref.jsonl", "gpt-4", "REF", 3);
        Path out = dir.resolve("bon");
        try (FakeTeacherServer server = new FakeTeacherServer(0).answer(EvalJudgeCommandTest::judge).start()) {
            String[] args = {"eval", "bestofn", "--groups", groups.get(0) + "," + groups.get(1) + "," + groups.get(2), "--reference",
                    ref.toString(), "--questions", questions.toString(), "--out", out.toString(), "--api-base", server.apiBase(),
                    "--api-key-env", "NO_KEY_HERE", "--quiet"};
            CliRun dry = CliRun.of(concat(args, "--dry-run"));
            assertEquals(0, dry.code(), dry.err());
            assertEquals(0, server.requestCount());
            assertTrue(dry.out().contains("judge llama top-3 vs gpt-4: 6 items"), dry.out());
            CliRun r = CliRun.of(args);
            assertEquals(0, r.code(), r.err());
            assertEquals(18, server.requestCount());
            // 8/8, 7/8, 6/8
            assertTrue(r.out().contains("top-1 vs gpt-4: relative score 100.0%"), r.out());
            assertTrue(r.out().contains("top-2 vs gpt-4: relative score 87.5%"), r.out());
            assertTrue(r.out().contains("top-3 vs gpt-4: relative score 75.0%"), r.out());
        }
        assertTrue(Files.size(out.resolve("bestofn.png")) > 1000);
        assertEquals(1, Files.readAllLines(out.resolve("bestofn.usage.jsonl")).size()); // what the run cost, as datagen keeps it
        CliRun agg = CliRun.of("eval", "bestofn", "--reviews", out.resolve("reviews-top-1.jsonl") + "," + out.resolve("reviews-top-2.jsonl")
                + "," + out.resolve("reviews-top-3.jsonl"), "--out", dir.resolve("agg").toString());
        assertEquals(0, agg.code(), agg.err());
        assertEquals(JSON.readTree(out.resolve("bestofn.json").toFile()), JSON.readTree(dir.resolve("agg/bestofn.json").toFile()));
    }

    @Test
    void badFlagsAreOneSentence(@TempDir Path dir) throws Exception {
        CliRun r = CliRun.of("eval", "judge", "--reviews", dir.resolve("none.jsonl").toString(), "--out", dir.toString(), "--mode", "x");
        assertEquals(2, r.code());
        assertEquals("gpt4llm eval judge: " + dir.resolve("none.jsonl") + " does not exist or is not a file", r.err().strip());
        r = CliRun.of("eval", "judge", "--out", dir.toString());
        assertEquals(2, r.code());
        assertTrue(r.err().contains("needs --questions, --answers and --reference"), r.err());
        Path a = answers(dir, "a.jsonl", "m", "M1", 1);
        r = CliRun.of("eval", "bestofn", "--groups", a.toString(), "--reference", a.toString(), "--questions", a.toString(), "--out",
                dir.toString(), "--mode", "x");
        assertEquals(2, r.code());
        assertEquals("gpt4llm eval bestofn: --mode must be vicuna, pairwise or single, got \"x\"", r.err().strip());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
