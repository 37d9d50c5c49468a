package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.gpt4llm.datagen.demo.DemoTasks;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm demo --quick}: every stage through the command line at toy sizes, its outputs, the
 * report's numbers against the files the stages wrote, a rerun that skips every finished stage, and a
 * teacher URL where nothing answers.
 */
class DemoCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void quickDemoRunsEveryStageReportsWhatTheyWroteAndResumes(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("demo");
        CliRun r = CliRun.of("demo", "--quick", "--out", out.toString(), "--threads", "2");
        assertEquals(0, r.code(), r.err() + "\n" + r.out());

        // every stage printed as the command a user types, in order
        List<String> commands = List.of("gpt4llm demo tasks --n 300", "gpt4llm datagen alpaca --in", "gpt4llm init-tokenizer",
                "gpt4llm init-model --arch llama", "gpt4llm sft --model " + out.resolve("models/init") + " --data",
                "gpt4llm sft --model " + out.resolve("runs/base/final"), "gpt4llm datagen alpaca --in " + out.resolve("data/train-tasks.json")
                + " --out " + out.resolve("data/alpaca-weak.jsonl"), "gpt4llm sft --model " + out.resolve("runs/base/final") + " --data "
                + out.resolve("data/alpaca-weak.json"), "gpt4llm generate", "gpt4llm datagen compare --questions",
                "gpt4llm rm --model", "gpt4llm datagen compare --questions " + out.resolve("data/heldout.json"),
                "gpt4llm rft --model " + out.resolve("runs/full/final"), "gpt4llm dpo --model", "gpt4llm eval exact", "gpt4llm eval rouge");
        int at = 0;
        for (String c : commands) {
            int i = r.out().indexOf("$ " + c, at);
            assertTrue(i >= 0, "missing or out of order: " + c + "\n" + r.out());
            at = i;
        }
        assertTrue(r.out().contains("$ gpt4llm demo teacher --port "), r.out());
        assertTrue(Files.readString(out.resolve("stages/weak-teacher.json")).contains("--wrong-share 0.3"), "the weaker teacher's command");

        // the stages' outputs
        JsonNode train = JSON.readTree(out.resolve("data/train-tasks.json").toFile());
        JsonNode heldout = JSON.readTree(out.resolve("data/heldout.json").toFile());
        JsonNode alpaca = JSON.readTree(out.resolve("data/alpaca.json").toFile());
        assertEquals(300, train.size());
        assertEquals(40, heldout.size());
        assertEquals(300, alpaca.size());
        Set<String> trainKeys = new HashSet<>();
        for (JsonNode t : train) trainKeys.add(DemoTasks.key(t.get("instruction").asText(), t.get("input").asText()));
        for (JsonNode t : heldout) {
            assertFalse(trainKeys.contains(DemoTasks.key(t.get("instruction").asText(), t.get("input").asText())), t.toString());
            assertEquals(DemoTasks.solve(t.get("instruction").asText(), t.get("input").asText()).orElseThrow(), t.get("output").asText());
        }
        for (JsonNode a : alpaca) {
            assertEquals(DemoTasks.solve(a.get("instruction").asText(), a.get("input").asText()).orElseThrow(), a.get("output").asText(),
                    "the demo teacher's answer");
        }
        JsonNode compare = JSON.readTree(out.resolve("data/compare.json").toFile());
        assertEquals(40, compare.size());
        assertEquals(3, compare.get(0).get("responses_and_scores").size());
        for (String f : List.of("models/tokenizer/tokenizer.json", "models/init/config.json", "runs/base/final/config.json",
                "runs/full/final/config.json", "runs/lora/final/adapter_config.json", "runs/rm/final/config.json",
                "runs/full/loss.png", "runs/rm/accuracy.png", "eval/exact/exact.png", "eval/rouge/rouge.png",
                "eval/rouge/per-instance.jsonl")) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        // the weaker teacher: the same instructions, about its share answered otherwise than the rules answer them
        JsonNode weak = JSON.readTree(out.resolve("data/alpaca-weak.json").toFile());
        assertEquals(300, weak.size());
        int sloppy = 0;
        for (JsonNode a : weak) {
            if (!DemoTasks.solve(a.get("instruction").asText(), a.get("input").asText()).orElseThrow().equals(a.get("output").asText())) sloppy++;
        }
        assertTrue(sloppy > 50 && sloppy < 130, sloppy + " of 300 weak answers sloppy at share 0.3");
        JsonNode kept = JSON.readTree(out.resolve("runs/rft/rft/kept.json").toFile());
        assertEquals(40, kept.size(), "rejection sampling keeps every compare instruction's best sample");
        assertEquals(40, Files.readAllLines(out.resolve("answers/weak/weak-sft.jsonl")).size());
        for (String m : List.of("untuned", "lora-sft", "full-sft", "full-sft-best-of-2", "full-sft-best-of-2-top1", "full-sft-best-of-2-top2",
                "rft")) {
            assertEquals(40, Files.readAllLines(out.resolve("answers/heldout/" + m + ".jsonl")).size(), m);
        }

        // the report's numbers are the stage outputs' numbers
        String html = Files.readString(out.resolve("report.html"), StandardCharsets.UTF_8);
        assertTrue(html.contains("DEMO teacher, not GPT-4"), "the teacher is labelled");
        JsonNode exact = JSON.readTree(out.resolve("eval/exact/exact.json").toFile());
        JsonNode rouge = JSON.readTree(out.resolve("eval/rouge/rouge_lenALL.json").toFile());
        for (String[] m : new String[][] {{"untuned", "untuned (base)"}, {"lora-sft", "LoRA SFT (greedy)"},
                {"full-sft", "full SFT (greedy)"}, {"full-sft-best-of-2", "full SFT, best of 2 (reward model)"}}) {
            double acc = model(exact.get("models"), "model", m[0]).get("accuracy").asDouble();
            double rl = model(rouge, "Model", m[0]).get("rougeL").asDouble();
            String row = String.format(Locale.ROOT, "<tr><td>%s</td><td class=\"n\">%.1f%%</td><td class=\"n\">%.3f</td></tr>",
                    m[1], 100 * acc, rl);
            assertTrue(html.contains(row), "report lacks " + row);
        }
        // the first table: the two students on held-out exact match and the teacher's ratings
        assertTrue(html.indexOf("<h2>Strong teacher against weaker teacher") < html.indexOf("<h2>Result"), "the comparison comes first");
        JsonNode ratings = JSON.readTree(out.resolve("data/heldout-ratings.json").toFile());
        assertEquals(40, ratings.size());
        for (String[] m : new String[][] {{"full-sft", "student of the strong teacher (full SFT)", "data/alpaca.json"},
                {"weak-sft", "student of the weaker teacher (full SFT)", "data/alpaca-weak.json"}}) {
            double sum = 0;
            int n = 0;
            for (JsonNode rec : ratings) {
                for (JsonNode a : rec.get("responses_and_scores")) {
                    if (a.get("source").asText().equals(m[0])) {
                        sum += JsonChecks.number(a, "score");
                        n++;
                    }
                }
            }
            assertEquals(40, n, m[0]);
            JsonNode train0 = JSON.readTree(out.resolve(m[2]).toFile());
            int right = 0;
            for (JsonNode a : train0) {
                if (DemoTasks.solve(a.get("instruction").asText(), a.get("input").asText()).orElseThrow().equals(a.get("output").asText())) right++;
            }
            String row = String.format(Locale.ROOT, "<tr><td>%s</td><td class=\"n\">%.1f%%</td><td class=\"n\">%.1f%%</td>"
                    + "<td class=\"n\">%.2f</td><td class=\"n\">40</td></tr>", m[1], 100.0 * right / train0.size(),
                    100 * model(exact.get("models"), "model", m[0]).get("accuracy").asDouble(), sum / n);
            assertTrue(html.contains(row), "report lacks " + row);
        }
        // the rejection-sampling rows, with the reward model's mean score of the held-out answers
        assertScoredRow(out, html, exact, rouge, "full-sft", "full SFT (greedy)");
        assertScoredRow(out, html, exact, rouge, "rft", "full SFT + one round of rejection sampling (greedy)");
        List<String> rm = Files.readAllLines(out.resolve("runs/rm/metrics.jsonl"));
        double before = JSON.readTree(rm.getFirst()).get("eval_accuracy").asDouble();
        double after = JSON.readTree(rm.getLast()).get("eval_accuracy").asDouble();
        assertTrue(html.contains(String.format(Locale.ROOT, "<b>%.1f%%</b> before training (step 0), <b>%.1f%%</b> after",
                100 * before, 100 * after)), "reward accuracy before and after");
        dpoRowsAreTheStageOutputs(out, html, exact, rouge);
        for (String img : List.of("runs/base/loss.png", "runs/full/loss.png", "runs/lora/loss.png", "runs/rm/accuracy.png",
                "eval/exact/exact.png", "eval/rouge/rouge.png")) {
            assertTrue(html.contains("<img src=\"" + img + "\""), img);
        }
        assertTrue(html.contains("$ gpt4llm datagen alpaca --in " + out.resolve("data/train-tasks.json")), "commands listed");

        // a rerun skips every finished stage and writes the same report numbers
        long stamp = Files.getLastModifiedTime(out.resolve("runs/full/final/model.safetensors")).toMillis();
        long weakStamp = Files.getLastModifiedTime(out.resolve("runs/weak/final/model.safetensors")).toMillis();
        CliRun again = CliRun.of("demo", "--quick", "--out", out.toString(), "--threads", "2");
        assertEquals(0, again.code(), again.err());
        assertFalse(again.out().contains("$ gpt4llm"), again.out());
        assertEquals(14, again.out().split("done in an earlier run", -1).length - 1, again.out());
        assertEquals(stamp, Files.getLastModifiedTime(out.resolve("runs/full/final/model.safetensors")).toMillis());
        String html2 = Files.readString(out.resolve("report.html"), StandardCharsets.UTF_8);
        assertEquals(html.substring(html.indexOf("<h2>Result"), html.indexOf("<h2>Data")),
                html2.substring(html2.indexOf("<h2>Result"), html2.indexOf("<h2>Data")));

        // a changed flag reruns its stage and every stage after it, and only those
        CliRun changed = CliRun.of("demo", "--quick", "--out", out.toString(), "--threads", "2", "--rm-steps", "4");
        assertEquals(0, changed.code(), changed.err());
        assertEquals(8, changed.out().split("done in an earlier run", -1).length - 1, changed.out());
        assertEquals(weakStamp, Files.getLastModifiedTime(out.resolve("runs/weak/final/model.safetensors")).toMillis(),
                "the weaker teacher's student does not depend on the reward model");
        assertTrue(changed.out().contains("$ gpt4llm rm --model"), changed.out());
        assertTrue(changed.out().contains("--max-steps 4 "), changed.out());
        assertEquals(stamp, Files.getLastModifiedTime(out.resolve("runs/full/final/model.safetensors")).toMillis());
        assertEquals(4, JSON.readTree(Files.readAllLines(out.resolve("runs/rm/metrics.jsonl")).getLast()).get("step").asInt());
    }

    /** A report row of a model's held-out exact match, ROUGE-L and reward model's mean score, as the evaluation and its answers hold them. */
    private static void assertScoredRow(Path out, String html, JsonNode exact, JsonNode rouge, String id, String label) throws Exception {
        double sum = 0;
        List<String> lines = Files.readAllLines(out.resolve("answers/heldout/" + id + ".jsonl"));
        for (String l : lines) sum += JsonChecks.number(JsonChecks.required(JSON.readTree(l), "metadata"), "reward");
        String row = String.format(Locale.ROOT, "<tr><td>%s</td><td class=\"n\">%.1f%%</td><td class=\"n\">%.3f</td><td class=\"n\">%.3f</td></tr>",
                label, 100 * model(exact.get("models"), "model", id).get("accuracy").asDouble(),
                model(rouge, "Model", id).get("rougeL").asDouble(), sum / lines.size());
        assertTrue(html.contains(row), "report lacks " + row);
    }

    /** The preference stage's figures in the report are those its run and the evaluation wrote. */
    private static void dpoRowsAreTheStageOutputs(Path out, String html, JsonNode exact, JsonNode rouge) throws Exception {
        assertEquals(40, Files.readAllLines(out.resolve("answers/heldout/full-sft-dpo.jsonl")).size());
        List<String> dpo = Files.readAllLines(out.resolve("runs/dpo/metrics.jsonl"));
        JsonNode start = JSON.readTree(dpo.getFirst()), end = JSON.readTree(dpo.getLast());
        assertEquals(0, JsonChecks.integer(start, "step"), "held-out metrics before the first step come first");
        double before = JsonChecks.number(start, "eval_rewards/accuracies"), after = JsonChecks.number(end, "eval_rewards/accuracies");
        assertTrue(html.contains(String.format(Locale.ROOT, "<b>%.1f%%</b> before training (step 0, where policy and reference"
                + " agree and no pair is ordered), <b>%.1f%%</b> after", 100 * before, 100 * after)), "DPO accuracy before and after");
        assertScoredRow(out, html, exact, rouge, "full-sft-dpo", "full SFT + DPO (greedy)");
        assertTrue(html.contains("<img src=\"runs/dpo/loss.png\""), "the DPO loss plot");
        System.out.printf(Locale.ROOT, "demo --quick DPO: held-out preference accuracy %.3f -> %.3f%n", before, after);
        // the teacher's ratings follow its rule, a signal the model can learn from the pairs
        assertTrue(after > 0.7 && after > before, "held-out preference accuracy " + before + " -> " + after);
    }

    @Test
    void aTeacherThatDoesNotAnswerIsOneSentence(@TempDir Path dir) {
        CliRun r = CliRun.of("demo", "--quick", "--out", dir.resolve("demo").toString(), "--teacher", "http://127.0.0.1:9/v1",
                "--model", "gpt-4");
        assertEquals(2, r.code(), r.out());
        assertEquals("gpt4llm demo: --teacher http://127.0.0.1:9/v1: no API answers there (connection refused)", r.err().strip());

        r = CliRun.of("demo", "--quick", "--out", dir.resolve("demo").toString(), "--teacher", "localhost:8000");
        assertEquals(2, r.code());
        assertEquals("gpt4llm demo: --teacher localhost:8000 is not an http(s) URL such as http://127.0.0.1:8000/v1", r.err().strip());

        r = CliRun.of("demo", "--quick", "--out", dir.resolve("demo").toString(), "--base", dir.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm demo: --base " + dir + " is not a model folder (it has no config.json)", r.err().strip());
    }

    private static JsonNode model(JsonNode array, String field, String name) {
        for (JsonNode m : array) if (m.path(field).asText().equals(name)) return m;
        throw new AssertionError("no " + name + " in " + array);
    }
}
