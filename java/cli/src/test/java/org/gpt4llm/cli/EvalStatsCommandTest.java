package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalStatsCommandTest {
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void scoresOfThePaperPrintTheMeans() throws Exception {
        Path data = SharedFiles.get("data/paper_comparison_scores.json");
        CliRun run = CliRun.of("eval", "stats", "scores", "--data", data.toString(), "--out", tmp.toString());
        assertEquals(0, run.code(), run.err());
        System.out.print(run.out());

        JsonNode raw = JSON.readTree(data.toFile());
        JsonNode report = JSON.readTree(tmp.resolve("scores.json").toFile()).get("models");
        for (Map.Entry<String, Integer> e : Map.of("gpt4", 51445, "text-davinci-003", 51183, "icm-1.3b", 51428).entrySet()) {
            JsonNode scores = raw.get(e.getKey());
            double sum = 0;
            for (JsonNode s : scores) sum += s.asDouble();
            double mean = sum / scores.size();
            JsonNode m = report.get(e.getKey());
            long counted = 0;
            for (JsonNode c : m.get("counts")) counted += c.asLong();
            assertEquals(e.getValue(), scores.size());
            assertEquals(scores.size(), m.get("n").asLong());
            assertEquals(scores.size(), counted);
            assertEquals(mean, m.get("mean").asDouble(), 1e-12);
            assertTrue(run.out().contains(String.format("mean %.4f", mean)), run.out());
        }
        assertTrue(Files.size(tmp.resolve("scores.png")) > 1000);
        assertTrue(Files.readString(tmp.resolve("scores.md")).contains("| gpt4 | 51445 |"));
    }

    @Test
    void verbsAndLengthsOfAlpacaGpt4() throws Exception {
        Path data = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        CliRun verbs = CliRun.of("eval", "stats", "verbs", "--data", data.toString(), "--out", tmp.toString());
        assertEquals(0, verbs.code(), verbs.err());
        assertTrue(verbs.out().startsWith("999 texts: "), verbs.out());
        assertEquals(25, JSON.readTree(tmp.resolve("instruction_verbs.json").toFile()).get("top_pairs").size());

        Path zh = SharedFiles.get("data/alpaca_gpt4_zh_1k.json");
        CliRun lengths = CliRun.of("eval", "stats", "lengths", "--data", data.toString(), "--data", zh.toString(),
                "--out", tmp.toString());
        assertEquals(0, lengths.code(), lengths.err());
        JsonNode series = JSON.readTree(tmp.resolve("lengths.json").toFile()).get("series");
        assertEquals(2, series.size());
        assertEquals(999, series.get(0).get("texts").asInt());
        assertTrue(Files.size(tmp.resolve("lengths.png")) > 1000);
    }

    @Test
    void badInputIsOneSentence() throws Exception {
        Path noField = tmp.resolve("a.json");
        Files.writeString(noField, "[{\"instruction\": \"Write a poem.\"}, {\"input\": \"x\"}]");
        CliRun run = CliRun.of("eval", "stats", "verbs", "--data", noField.toString(), "--out", tmp.toString());
        assertEquals(2, run.code());
        assertEquals("gpt4llm eval stats verbs: " + noField + ": record 1 has no \"instruction\"", run.err().strip());

        CliRun missing = CliRun.of("eval", "stats", "scores", "--data", tmp.resolve("none.json").toString(), "--out", tmp.toString());
        assertEquals(2, missing.code());
        assertTrue(missing.err().contains("none.json does not exist"), missing.err());

        Path empty = tmp.resolve("empty.json");
        Files.writeString(empty, "[]");
        CliRun nothing = CliRun.of("eval", "stats", "verbs", "--data", empty.toString(), "--out", tmp.toString());
        assertEquals(0, nothing.code(), nothing.err());
        assertTrue(nothing.out().startsWith("0 texts"), nothing.out());
        assertTrue(Files.size(tmp.resolve("instruction_verbs.png")) > 1000);
        CliRun noLengths = CliRun.of("eval", "stats", "lengths", "--data", empty.toString(), "--out", tmp.toString());
        assertEquals(0, noLengths.code(), noLengths.err());
        Path noScores = tmp.resolve("noscores.json");
        Files.writeString(noScores, "{\"m\": []}");
        assertEquals(0, CliRun.of("eval", "stats", "scores", "--data", noScores.toString(), "--out", tmp.toString()).code());
        CliRun badBins = CliRun.of("eval", "stats", "lengths", "--data", empty.toString(), "--bin", "10", "--out", tmp.toString());
        assertEquals(2, badBins.code());
    }
}
