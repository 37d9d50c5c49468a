package org.gpt4llm.eval.rouge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.eval.report.ReportFiles;
import org.gpt4llm.eval.rouge.RougeEval.Bucket;
import org.gpt4llm.eval.rouge.RougeEval.Instance;
import org.gpt4llm.eval.rouge.RougeEval.LengthWords;
import org.gpt4llm.eval.rouge.RougeEval.Row;
import org.gpt4llm.testing.FilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RougeEvalTest {
    @TempDir
    Path dir;

    @Test
    void bucketsHaveThePapersBoundsAndLabels() {
        assertEquals(Bucket.LEN_0_2, Bucket.of(0));
        assertEquals(Bucket.LEN_0_2, Bucket.of(2));
        assertEquals(Bucket.LEN_3_5, Bucket.of(3));
        assertEquals(Bucket.LEN_3_5, Bucket.of(5));
        assertEquals(Bucket.LEN_6_10, Bucket.of(6));
        assertEquals(Bucket.LEN_6_10, Bucket.of(10));
        assertEquals(Bucket.LEN_OVER_10, Bucket.of(11));
        assertEquals("5-10", Bucket.LEN_6_10.label);
        assertEquals("10-", Bucket.LEN_OVER_10.label);
    }

    @Test
    void wordsCountedByWhitespaceOrByRougeTokens() {
        // "I'm fine." is two words but three tokens (i, m, fine); a dash alone is a word and no token
        assertEquals(2, LengthWords.WHITESPACE.count("I'm fine."));
        assertEquals(3, LengthWords.TOKENS.count("I'm fine."));
        assertEquals(1, LengthWords.WHITESPACE.count(" — "));
        assertEquals(0, LengthWords.TOKENS.count(" — "));
        assertEquals(0, LengthWords.WHITESPACE.count("  \n "));
    }

    @Test
    void meansPerBucket() {
        List<Instance> in = List.of(
                // 1 word: ROUGE-1 = ROUGE-L = 1; a one-token side has no bigram, so ROUGE-2 = 0
                new Instance("a", "yes", List.of("yes")),
                // 2 words: P = 1, R = 1/2, F = 2/3; the prediction has no bigram: ROUGE-2 = 0
                new Instance("b", "no", List.of("no way")),
                // 4 words, identical: 1, 1, 1
                new Instance("c", "a b c d", List.of("a b c d")),
                // 7 words, nothing shared: 0, 0, 0
                new Instance("d", "nothing", List.of("one two three four five six seven")),
                // 12 words, identical: 1, 1, 1
                new Instance("e", "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12", List.of("w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12")));
        List<Row> rows = RougeEval.rows("m", RougeEval.score(in, true, LengthWords.WHITESPACE));
        assertEquals(5, rows.size());
        assertRow(rows.get(0), "0-2", 2, 5.0 / 6, 0, 5.0 / 6); // (1 + 2/3)/2
        assertRow(rows.get(1), "3-5", 1, 1, 1, 1);
        assertRow(rows.get(2), "5-10", 1, 0, 0, 0);
        assertRow(rows.get(3), "10-", 1, 1, 1, 1);
        // (1 + 2/3 + 1 + 0 + 1)/5 = 11/15; ROUGE-2 (0 + 0 + 1 + 0 + 1)/5 = 2/5
        assertRow(rows.get(4), "ALL", 5, 11.0 / 15, 2.0 / 5, 11.0 / 15);
    }

    @Test
    void anEmptyBucketHasNoInstancesAndZeroScores() {
        List<Row> rows = RougeEval.rows("m", RougeEval.score(List.of(new Instance("a", "x y", List.of("x y"))), false, LengthWords.WHITESPACE));
        assertRow(rows.get(1), "3-5", 0, 0, 0, 0);
        assertRow(rows.get(4), "ALL", 1, 1, 1, 1);
    }

    @Test
    void rowsRoundTripThroughThePapersFormat() throws IOException {
        List<Row> rows = List.of(new Row("0-2", 3, "A", 0.31687713821621266, 0.018471298605320756, 0.1), new Row("ALL", 9, "B", 1.0 / 3, 0, 2.0 / 7));
        JsonNode json = RougeEval.toJson(rows);
        List<String> names = new ArrayList<>();
        json.get(0).fieldNames().forEachRemaining(names::add);
        assertEquals(List.of("Length", "NumInstance", "Model", "rouge1", "rouge2", "rougeL"), names);
        Path f = dir.resolve("r.json");
        ReportFiles.writeText(f, RougeEval.toPaperText(rows));
        assertEquals(rows, RougeEval.fromJson(ReportFiles.JSON.readTree(f.toFile()), f.toString()));
        // numbers are written as the shortest decimal that reads back exactly, as Python's json does
        assertTrue(Files.readString(f).contains("\n    \"rouge1\": 0.31687713821621266,\n"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> RougeEval.fromJson(ReportFiles.JSON.readTree("[{\"Length\": \"ALL\"}]"), "x.json"));
        assertEquals("x.json: row 0 has no \"NumInstance\"", e.getMessage());
    }

    @Test
    void chartAndMarkdown() throws IOException {
        List<Row> rows = new ArrayList<>(RougeEval.rows("ours", RougeEval.score(List.of(new Instance("a", "x y", List.of("x y z"))), true, LengthWords.WHITESPACE)));
        rows.add(new Row("ALL", 9000, "GPT4 (paper)", 0.5, 0.3, 0.45));
        Path png = dir.resolve("rouge.png");
        ReportFiles.writePng(png, RougeEval.chart(rows));
        FilePermissions.assertUmaskDefault(png);
        byte[] head = new byte[4];
        System.arraycopy(Files.readAllBytes(png), 0, head, 0, 4);
        assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, head);
        assertEquals(2, RougeEval.chart(rows).getSeriesMap().size());
        String md = RougeEval.markdown(rows, true, LengthWords.WHITESPACE);
        // [x y] against [x y z]: P = 1, R = 2/3, F = 4/5; bigrams (x y) vs (x y)(y z): P = 1, R = 1/2, F = 2/3
        assertTrue(md.contains("| 3-5 | ours | 1 | 0.8000 | 0.6667 | 0.8000 |"), md);
        assertTrue(md.contains("| ALL | GPT4 (paper) | 9000 | 0.5000 | 0.3000 | 0.4500 |"), md);
    }

    @Test
    void perInstanceLines() throws IOException {
        String jsonl = RougeEval.perInstanceJsonl("m", RougeEval.score(List.of(new Instance("q7", "x y", List.of("x y z"))), false, LengthWords.WHITESPACE));
        JsonNode o = ReportFiles.JSON.readTree(jsonl.strip());
        assertEquals("q7", o.get("id").asText());
        assertEquals(3, o.get("ReferenceWords").asInt());
        assertEquals("3-5", o.get("Length").asText());
        assertEquals(0.8, o.get("rouge1").asDouble(), 1e-15);
        assertEquals(2.0 / 3, o.get("rouge2").asDouble(), 1e-15);
    }

    private static void assertRow(Row r, String length, int n, double rouge1, double rouge2, double rougeL) {
        assertEquals(length, r.length());
        assertEquals(n, r.numInstance(), length);
        assertEquals(rouge1, r.rouge1(), 1e-15, length + " rouge1");
        assertEquals(rouge2, r.rouge2(), 1e-15, length + " rouge2");
        assertEquals(rougeL, r.rougeL(), 1e-15, length + " rougeL");
    }
}
