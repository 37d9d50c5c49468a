package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.gpt4llm.eval.report.ReportFiles;
import org.gpt4llm.eval.rouge.RougeEval;
import org.gpt4llm.eval.rouge.RougeEval.Row;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalRougeCommandTest {
    @TempDir
    Path dir;

    /**
     * Two instances. 1: reference "The dogs were running." (4 words, 3-5), prediction "A dog runs": with
     * stemming [the dog were run] vs [a dog run]: ROUGE-1 P = 2/3, R = 2/4, F = 4/7, no common bigram,
     * LCS 2: 4/7; without stemming nothing matches. 2: references "yes" and "no" (1 word, 0-2),
     * prediction "No.": the second reference matches exactly: ROUGE-1 = ROUGE-L = 1, ROUGE-2 = 0
     * (no bigrams).
     */
    @Test
    void pairsEndToEndWithAndWithoutStemming() throws IOException {
        Path pairs = Files.writeString(dir.resolve("pairs.jsonl"), """
                {"prediction": "A dog runs", "reference": "The dogs were running."}
                {"prediction": "No.", "references": ["yes", "no"]}
                """);
        Path stemmed = dir.resolve("stemmed"), perInstance = dir.resolve("each.jsonl");
        CliRun run = CliRun.of("eval", "rouge", "--pairs", pairs.toString(), "--model", "ours", "--out", stemmed.toString(),
                "--per-instance", perInstance.toString());
        assertEquals(0, run.code(), run.err());
        List<Row> rows = read(stemmed.resolve("rouge.json"));
        assertRows(List.of(
                new Row("0-2", 1, "ours", 1, 0, 1),
                new Row("3-5", 1, "ours", 4.0 / 7, 0, 4.0 / 7),
                new Row("5-10", 0, "ours", 0, 0, 0),
                new Row("10-", 0, "ours", 0, 0, 0),
                new Row("ALL", 2, "ours", (1 + 4.0 / 7) / 2, 0, (1 + 4.0 / 7) / 2)), rows);
        for (String suffix : new String[] {"0-2", "3-5", "6-10", "10-", "ALL"}) {
            List<Row> one = read(stemmed.resolve("rouge_len" + suffix + ".json"));
            assertEquals(1, one.size(), suffix);
        }
        assertTrue(Files.size(stemmed.resolve("rouge.png")) > 1000);
        assertTrue(Files.readString(stemmed.resolve("rouge.md")).contains("| 3-5 | ours | 1 | 0.5714 | 0.0000 | 0.5714 |"));
        assertEquals(2, Files.readAllLines(perInstance).size());
        assertTrue(run.out().contains("| ALL | ours | 2 |"), run.out());

        Path plain = dir.resolve("plain");
        assertEquals(0, CliRun.of("eval", "rouge", "--pairs", pairs.toString(), "--model", "ours", "--stemmer", "off", "--out", plain.toString()).code());
        assertRows(List.of(new Row("3-5", 1, "ours", 0, 0, 0)), read(plain.resolve("rouge.json")).subList(1, 2));
    }

    /** Two models' Alpaca-format outputs against one reference file, by position; their rows come bucket by bucket. */
    @Test
    void severalPredictionFilesCompared() throws IOException {
        Path refs = Files.writeString(dir.resolve("refs.json"), "[{\"output\": \"red\"}, {\"output\": \"blue sky\"}]");
        Path a = Files.writeString(dir.resolve("a.json"), "[{\"output\": \"red\"}, {\"output\": \"blue sky\"}]");
        Path b = Files.writeString(dir.resolve("b.json"), "[{\"output\": \"green\"}, {\"output\": \"sky\"}]");
        CliRun run = CliRun.of("eval", "rouge", "--predictions", a.toString(), "--predictions", b.toString(), "--references", refs.toString(),
                "--out", dir.resolve("out").toString());
        assertEquals(0, run.code(), run.err());
        List<Row> all = read(dir.resolve("out/rouge_lenALL.json"));
        // a: identical, 1 each; b: 0 and [sky] vs [blue sky] (P = 1, R = 1/2, F = 2/3; no bigram, ROUGE-2 0)
        assertRows(List.of(new Row("ALL", 2, "a", 1, 0.5, 1), new Row("ALL", 2, "b", 1.0 / 3, 0, 1.0 / 3)), all);
    }

    /** The paper's five files read and written back unchanged, and shown next to ours; our files have the same layout. */
    @Test
    void papersResultFilesRoundTripAndAreCompared() throws IOException {
        Path paperDir = SharedFiles.get("data/paper_unnatural_rouge");
        try (Stream<Path> files = Files.list(paperDir)) {
            for (Path f : files.toList()) {
                JsonNode original = ReportFiles.JSON.readTree(f.toFile());
                // byte for byte: field names, order, number formatting and layout
                assertEquals(Files.readString(f), RougeEval.toPaperText(RougeEval.fromJson(original, f.toString())), f.toString());
            }
        }
        Path pairs = Files.writeString(dir.resolve("p.jsonl"), "{\"prediction\": \"a\", \"reference\": \"a\"}\n");
        CliRun run = CliRun.of("eval", "rouge", "--pairs", pairs.toString(), "--paper", paperDir.toString(), "--out", dir.resolve("cmp").toString());
        assertEquals(0, run.code(), run.err());
        String md = Files.readString(dir.resolve("cmp/rouge.md"));
        assertTrue(md.contains("| ALL | GPT4 (paper) | 9000 |"), md);
        assertTrue(md.contains("| ALL | p | 1 | 1.0000 | 0.0000 | 1.0000 |"), md);
        // our own JSON holds only our rows, laid out as the paper's
        assertEquals(5, read(dir.resolve("cmp/rouge.json")).size());
        assertTrue(Files.readString(dir.resolve("cmp/rouge_lenALL.json")).startsWith("[\n  {\n    \"Length\": \"ALL\",\n    \"NumInstance\": 1,\n"));
    }

    @Test
    void badInputIsOneSentence() throws IOException {
        Path pairs = Files.writeString(dir.resolve("bad.jsonl"), "{\"reference\": \"r\"}\n");
        CliRun run = CliRun.of("eval", "rouge", "--pairs", pairs.toString(), "--out", dir.resolve("x").toString());
        assertEquals(2, run.code());
        assertEquals("gpt4llm eval rouge: " + pairs + ":1 has no \"prediction\"", run.err().strip());
        CliRun stem = CliRun.of("eval", "rouge", "--pairs", pairs.toString(), "--stemmer", "maybe", "--out", dir.toString());
        assertEquals("gpt4llm eval rouge: --stemmer must be on or off, got maybe", stem.err().strip());
        CliRun neither = CliRun.of("eval", "rouge", "--out", dir.toString());
        assertEquals("gpt4llm eval rouge: give either --pairs or --predictions (with --references)", neither.err().strip());
    }

    private static void assertRows(List<Row> expected, List<Row> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            Row e = expected.get(i), a = actual.get(i);
            assertEquals(e.length() + " " + e.numInstance() + " " + e.model(), a.length() + " " + a.numInstance() + " " + a.model());
            assertEquals(e.rouge1(), a.rouge1(), 1e-15, e.length() + " rouge1");
            assertEquals(e.rouge2(), a.rouge2(), 1e-15, e.length() + " rouge2");
            assertEquals(e.rougeL(), a.rougeL(), 1e-15, e.length() + " rougeL");
        }
    }

    private static List<Row> read(Path f) throws IOException {
        return RougeEval.fromJson(ReportFiles.JSON.readTree(f.toFile()), f.toString());
    }
}
