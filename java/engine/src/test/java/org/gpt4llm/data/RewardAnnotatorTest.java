package org.gpt4llm.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.gpt4llm.testing.TestSeeds;

class RewardAnnotatorTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static List<float[]> randomRewards(List<ScoredGroup> groups, Random rnd) {
        List<float[]> out = new ArrayList<>();
        for (ScoredGroup g : groups) {
            float[] r = new float[g.size()];
            for (int i = 0; i < r.length; i++) r[i] = (float) rnd.nextGaussian();
            out.add(r);
        }
        return out;
    }

    private static List<String> fieldNames(JsonNode o) {
        List<String> names = new ArrayList<>();
        o.fieldNames().forEachRemaining(names::add);
        return names;
    }

    @Test
    void comparisonFileGainsARewardPerResponseAndKeepsEverythingElse() throws IOException {
        Path in = Files.writeString(dir.resolve("c.json"), """
                [{"id": 1, "user_input": "q", "responses_and_scores": [
                   {"response": "a", "score": 8, "source": "gpt4"}, {"source": "icm", "response": "b"}], "meta": {"x": [1, 2]}},
                 {"user_input": "q2", "responses_and_scores": [["a", "9"], ["b", 2, "davinci"]]},
                 {"user_input": "q3", "responses_and_scores": []}]""");
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(in), false);
        assertEquals(1, l.skipped().size());
        List<float[]> rewards = randomRewards(l.groups(), TestSeeds.random());
        Path out = dir.resolve("out/c.scored.json");
        RewardAnnotator.Result r = RewardAnnotator.write(in, out, l.groups(), rewards);
        assertEquals(2, r.annotated());
        assertEquals(List.of(new RecordRef(in, 2, 0)), r.left());

        JsonNode before = JSON.readTree(in.toFile()), after = JSON.readTree(out.toFile());
        assertTrue(after.isArray());
        JsonNode first = after.get(0).get("responses_and_scores");
        assertEquals(List.of("response", "score", "reward", "source"), fieldNames(first.get(0)));
        assertEquals(List.of("source", "response", "reward"), fieldNames(first.get(1)));
        assertEquals(rewards.get(0)[0], first.get(0).get("reward").floatValue());
        assertEquals(rewards.get(0)[1], first.get(1).get("reward").floatValue());
        JsonNode second = after.get(1).get("responses_and_scores");
        assertEquals(rewards.get(1)[0], second.get(0).get(3).floatValue());
        assertTrue(second.get(0).get(2).isNull());
        assertEquals(rewards.get(1)[1], second.get(1).get(3).floatValue());

        // taking the rewards out again gives back the input exactly, field order included
        for (JsonNode e : first) ((ObjectNode) e).remove("reward");
        for (JsonNode e : second) ((ArrayNode) e).remove(3);
        ((ArrayNode) second.get(0)).remove(2);
        assertEquals(before, after);
        assertEquals(fieldNames(before.get(0)), fieldNames(after.get(0)));

        // the scored file reads back as the same groups; scoring it again replaces the rewards in place
        PreferenceReader.Loaded again = PreferenceReader.read(List.of(out), false);
        assertEquals(2, again.groups().size());
        for (int g = 0; g < 2; g++) {
            assertEquals(l.groups().get(g).responses(), again.groups().get(g).responses());
            assertArrayEquals(l.groups().get(g).scores(), again.groups().get(g).scores());
            assertEquals(l.groups().get(g).sources(), again.groups().get(g).sources());
        }
        List<float[]> second2 = randomRewards(again.groups(), TestSeeds.random());
        RewardAnnotator.write(out, out, again.groups(), second2);
        JsonNode twice = JSON.readTree(out.toFile());
        assertEquals(4, twice.get(1).get("responses_and_scores").get(1).size());
        assertEquals(second2.get(1)[1], twice.get(1).get("responses_and_scores").get(1).get(3).floatValue());
        assertEquals(fieldNames(after.get(0).get("responses_and_scores").get(0)).size() + 1,
                fieldNames(twice.get(0).get("responses_and_scores").get(0)).size());
    }

    @Test
    void pairsInJsonlGainChosenAndRejectedRewardsNextToTheirAnswers() throws IOException {
        String[] lines = {
            "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"}],\"chosen\":{\"from\":\"gpt\",\"value\":\"a\"},"
                    + "\"rejected\":{\"from\":\"gpt\",\"value\":\"b\"},\"tag\":\"x\"}",
            "{\"prompt\":\"p\",\"chosen\":\"c\"}",
            "{\"prompt\":\"p\",\"chosen\":\"c\",\"rejected\":\"r\",\"score_note\":null}"};
        Path in = Files.writeString(dir.resolve("p.jsonl"), String.join("\n", lines) + "\n");
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(in), true);
        assertEquals(2, l.groups().size());
        List<float[]> rewards = randomRewards(l.groups(), TestSeeds.random());
        Path out = dir.resolve("p.scored.jsonl");
        RewardAnnotator.Result r = RewardAnnotator.write(in, out, l.groups(), rewards);
        assertEquals(List.of(new RecordRef(in, 1, 2)), r.left());

        List<String> written = Files.readAllLines(out);
        assertEquals(3, written.size());
        assertEquals(lines[1], written.get(1));
        int[] lineOf = {0, 2};
        for (int g = 0; g < 2; g++) {
            ObjectNode o = (ObjectNode) JSON.readTree(written.get(lineOf[g]));
            List<String> names = fieldNames(o);
            assertEquals(names.indexOf("chosen") + 1, names.indexOf("chosen_reward"));
            assertEquals(names.indexOf("rejected") + 1, names.indexOf("rejected_reward"));
            assertEquals(rewards.get(g)[0], o.get("chosen_reward").floatValue());
            assertEquals(rewards.get(g)[1], o.get("rejected_reward").floatValue());
            o.remove(List.of("chosen_reward", "rejected_reward"));
            assertEquals(JSON.readTree(lines[lineOf[g]]), o);
            assertEquals(fieldNames(JSON.readTree(lines[lineOf[g]])), fieldNames(o));
        }
    }
}
