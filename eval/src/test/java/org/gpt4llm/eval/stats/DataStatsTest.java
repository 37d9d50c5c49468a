package org.gpt4llm.eval.stats;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.gpt4llm.eval.report.ReportFiles;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataStatsTest {
    @TempDir
    Path tmp;

    @Test
    void verbNounCountsOnAlpacaGpt4() throws Exception {
        Path data = SharedFiles.get("data/alpaca_gpt4_en_1k.json");
        List<String> instructions = Texts.read(data, "instruction");
        VerbNounExtractor extractor = new VerbNounExtractor();
        long start = System.nanoTime();
        VerbNounStats stats = VerbNounStats.of(instructions, extractor);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("%d instructions in %.2f s: %d with a verb, %d with a pair, %d unique verbs, %d unique pairs%n",
                stats.texts(), seconds, stats.withVerb(), stats.withPair(), stats.verbCounts().size(), stats.pairCounts().size());
        stats.topPairs(25).forEach(c -> System.out.println("  " + c.key() + " " + c.count()));

        assertEquals(999, stats.texts());
        assertEquals(stats.withVerb(), stats.verbCounts().values().stream().mapToInt(Integer::intValue).sum());
        assertEquals(stats.withPair(), stats.pairCounts().values().stream().mapToInt(Integer::intValue).sum());
        // every pair's verb is a counted verb, and no verb has more pairs than occurrences
        Map<String, Integer> pairsPerVerb = stats.pairCounts().entrySet().stream()
                .collect(Collectors.groupingBy(e -> e.getKey().split(" ")[0], Collectors.summingInt(Map.Entry::getValue)));
        pairsPerVerb.forEach((verb, n) -> assertTrue(n <= stats.verbCounts().get(verb), verb));
        // Alpaca's instructions are mostly imperatives with an object, led by these verbs (the paper's Fig. 1a)
        assertTrue(stats.withVerb() > 0.8 * stats.texts(), "most instructions have a verb");
        assertTrue(stats.withPair() > 0.5 * stats.texts(), "most instructions have a verb and an object");
        Set<String> top = stats.topVerbs(10).stream().map(VerbNounStats.Count::key).collect(Collectors.toSet());
        assertTrue(top.contains("write"), top::toString);
        assertTrue(top.contains("generate") || top.contains("create") || top.contains("give"), top::toString);
        assertTrue(seconds < 20, "999 instructions took " + seconds + " s");

        // the same input gives the same report; the files are all there
        assertEquals(stats, VerbNounStats.of(instructions, extractor));
        stats.write(tmp, data.toString(), "instruction", 25);
        JsonNode json = ReportFiles.JSON.readTree(tmp.resolve("instruction_verbs.json").toFile());
        assertEquals(stats.pairCounts().size(), json.get("unique_verb_noun_pairs").asInt());
        assertEquals(25, json.get("top_pairs").size());
        assertTrue(Files.size(tmp.resolve("instruction_verbs.png")) > 1000);
    }

    @Test
    void lengthBinsByHand() {
        // words: 0, 1, 3, 15, 16, 17, 31, 32, 100 (width 16 over 0-128) and 128, 500 at or above the max
        List<String> texts = List.of("", "  one ", "a b\tc", "w ".repeat(15), "w ".repeat(16), "w ".repeat(17),
                "w ".repeat(31), "w\n".repeat(32), "w ".repeat(100), "w ".repeat(128), "w ".repeat(500));
        LengthHistogram.Series s = LengthHistogram.bin("hand", texts, 16, 128);
        assertArrayEquals(new long[] {4, 3, 1, 0, 0, 0, 1, 0}, s.counts());
        assertEquals(2, s.above());
        assertEquals(11, s.texts());
        assertEquals((0 + 1 + 3 + 15 + 16 + 17 + 31 + 32 + 100 + 128 + 500) / 11.0, s.meanWords(), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> LengthHistogram.bin("x", texts, 10, 512));
    }

    @Test
    void lengthReportOfTwoDataSets() throws Exception {
        List<String> gpt4 = Texts.read(SharedFiles.get("data/alpaca_gpt4_en_1k.json"), "output");
        List<String> other = Texts.read(SharedFiles.get("data/alpaca_gpt4_zh_1k.json"), "instruction");
        List<LengthHistogram.Series> series = List.of(LengthHistogram.bin("GPT-4", gpt4, 16, 512),
                LengthHistogram.bin("zh instructions", other, 16, 512));
        for (LengthHistogram.Series s : series) {
            assertEquals(s.texts(), java.util.Arrays.stream(s.counts()).sum() + s.above());
        }
        LengthHistogram.write(tmp, series, 16, 512);
        JsonNode json = ReportFiles.JSON.readTree(tmp.resolve("lengths.json").toFile());
        assertEquals(32, json.get("series").get(0).get("counts").size());
        assertTrue(Files.size(tmp.resolve("lengths.png")) > 1000);
    }

    @Test
    void paperComparisonScoresReproduceFigure2() throws Exception {
        Path data = SharedFiles.get("data/paper_comparison_scores.json");
        List<ScoreDistribution.Model> models = ScoreDistribution.read(data);
        Map<String, Long> sizes = Map.of("gpt4", 51445L, "text-davinci-003", 51183L, "icm-1.3b", 51428L);
        assertEquals(sizes.keySet(), models.stream().map(ScoreDistribution.Model::name).collect(Collectors.toSet()));

        // a direct computation from the raw JSON
        JsonNode raw = ReportFiles.JSON.readTree(data.toFile());
        for (ScoreDistribution.Model m : models) {
            JsonNode scores = raw.get(m.name());
            double sum = 0;
            long nines = 0;
            for (JsonNode s : scores) {
                sum += s.asDouble();
                if (s.asDouble() == 9.0) nines++;
            }
            System.out.printf("%s: %d scores, mean %.4f, counts %s%n", m.name(), m.n(), m.mean(),
                    ScoreDistribution.toJson(data, List.of(m)).get("models").get(m.name()).get("counts"));
            assertEquals(sizes.get(m.name()), m.n());
            assertEquals(m.n(), m.counts().values().stream().mapToLong(Long::longValue).sum());
            assertEquals(sum / scores.size(), m.mean(), 1e-12);
            assertEquals(nines, m.counts().get(new BigDecimal("9")));
        }
        Map<String, Double> means = ScoreDistribution.means(models);
        // the figure's order: GPT-4 rated above text-davinci-003, far above the 1.3B model
        assertTrue(means.get("gpt4") > means.get("text-davinci-003"));
        assertTrue(means.get("text-davinci-003") > means.get("icm-1.3b") + 3);

        ScoreDistribution.write(tmp, data, models);
        JsonNode json = ReportFiles.JSON.readTree(tmp.resolve("scores.json").toFile());
        assertEquals(51445, json.get("models").get("gpt4").get("n").asLong());
        assertTrue(Files.size(tmp.resolve("scores.png")) > 1000);
    }

    @Test
    void badScoresNameTheModelAndIndex() throws Exception {
        Path f = tmp.resolve("s.json");
        Files.writeString(f, "{\"a\": [1, 2, \"x\"]}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScoreDistribution.read(f));
        assertEquals(f + ": a[2] is \"x\", not a score in 0..10", e.getMessage());
        Files.writeString(f, "{\"a\": [1, 11]}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ScoreDistribution.read(f)).getMessage().contains("a[1]"));
        Files.writeString(f, "[1, 2]");
        assertThrows(IllegalArgumentException.class, () -> ScoreDistribution.read(f));
    }
}
