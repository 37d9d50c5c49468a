package org.gpt4llm.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreferenceReaderTest {
    @TempDir
    Path dir;

    private Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    @Test
    void comparisonDataWithNumericAndStringScoresObjectsAndArrays() throws IOException {
        Path f = write("c.json", """
                [{"user_input": "Name a fruit.", "responses_and_scores": [
                   {"response": "Apple", "score": 8, "source": "gpt4"},
                   {"response": "Car", "score": " 2.5 ", "source": "icm-1.3b"},
                   {"response": "Pear", "score": "7"}]},
                 {"user_input": "Add 1 and 2.", "responses_and_scores": [["3", "10"], ["4", 1.5, "text-davinci-003"]]}]""");
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(f), true);
        assertEquals(List.of(), l.skipped());
        ScoredGroup a = l.groups().get(0), b = l.groups().get(1);
        assertEquals("Name a fruit.", a.instruction());
        assertEquals(List.of("Apple", "Car", "Pear"), a.responses());
        assertArrayEquals(new float[] {8, 2.5f, 7}, a.scores());
        assertEquals(List.of("gpt4", "icm-1.3b", ""), a.sources());
        assertEquals(List.of(), a.history());
        assertEquals(new RecordRef(f, 0, 0), a.ref());
        assertEquals(List.of("3", "4"), b.responses());
        assertArrayEquals(new float[] {10, 1.5f}, b.scores());
        assertEquals(List.of("", "text-davinci-003"), b.sources());
        assertEquals(3 + 1, l.pairs());
        assertEquals(0, l.tiedPairs());
        assertEquals(Template.ALPACA.prompt("Name a fruit.", ""), a.prompt(Template.ALPACA));
    }

    @Test
    void multiTurnShareGptPairKeepsHistoryAndSystem() throws IOException {
        Path f = write("p.json", """
                [{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                   {"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "2+2?"}],
                  "chosen": {"from": "gpt", "value": "4"}, "rejected": "5"}]""");
        ScoredGroup g = PreferenceReader.read(List.of(f), true).groups().getFirst();
        assertEquals("Be brief.", g.system());
        assertEquals(List.of(new Turn("Hi", "", "Hello!")), g.history());
        assertEquals("2+2?", g.instruction());
        assertEquals(List.of("4", "5"), g.responses());
        assertArrayEquals(new float[] {1, 0}, g.scores());
        assertEquals(List.of("chosen", "rejected"), g.sources());
        // the text the chosen response follows is what the SFT template makes of the conversation up to it
        SftRecord conversation = g.record(0);
        Template t = Template.CHAT;
        assertEquals(t.prompt(conversation, 0) + "Hello!" + t.prompt(conversation, 1), g.prompt(t));
        assertTrue(g.prompt(t).startsWith("Be brief.\n\n"), g.prompt(t));
    }

    @Test
    void plainPairsWithPromptOrInstructionAndInput() throws IOException {
        Path f = write("p.jsonl", """
                {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."}

                {"instruction": "Translate.", "input": "chat", "chosen": "cat", "rejected": "dog", "id": 7}
                """);
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(f), true);
        assertEquals(2, l.groups().size());
        ScoredGroup b = l.groups().get(1);
        assertEquals(new RecordRef(f, 1, 3), b.ref());
        assertEquals("Translate.", b.instruction());
        assertEquals("chat", b.input());
        assertEquals(List.of("cat", "dog"), b.responses());
        assertEquals(Template.ALPACA.prompt("Translate.", "chat"), b.prompt(Template.ALPACA));
        assertEquals(2, l.pairs());
    }

    @Test
    void sharedPreferencePairsReadWhole() throws IOException {
        Path f = SharedFiles.get("data/preference_pairs_en.json");
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(f), true);
        assertEquals(List.of(), l.skipped());
        assertEquals(300, l.groups().size());
        assertEquals(300, l.pairs());
        assertEquals(0, l.tiedPairs());
        assertTrue(l.groups().stream().anyMatch(g -> g.history().size() >= 2), "multi-turn conversations keep their history");
        assertTrue(l.groups().stream().anyMatch(g -> !g.system().isEmpty()), "system prompts are kept");
    }

    @Test
    void unusableRecordsAreSkippedOneEachWithTheirReason() throws IOException {
        Path f = write("mixed.json", """
                [{"user_input": "ok", "responses_and_scores": [{"response": "a", "score": 2}, {"response": "b", "score": 1}]},
                 {"user_input": "no score", "responses_and_scores": [{"response": "a", "score": 2}, {"response": "b"}]},
                 {"user_input": "bad score", "responses_and_scores": [["a", "high"], ["b", 1]]},
                 {"user_input": "one", "responses_and_scores": [{"response": "a", "score": 2}]},
                 {"user_input": "ties", "responses_and_scores": [["a", 3], ["b", "3"], ["c", 3.0]]},
                 {"instruction": "sft", "output": "not a comparison"},
                 {"prompt": "pair", "chosen": "x", "rejected": "y"},
                 {"user_input": "tie in a kept group", "responses_and_scores": [["a", 3], ["b", 3], ["c", 1]]}]""");
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(f), true);
        assertEquals(List.of("ok", "pair", "tie in a kept group"), l.groups().stream().map(ScoredGroup::instruction).toList());
        List<String> expected = List.of(
                f + ":1: responses_and_scores[1] has no score",
                f + ":2: responses_and_scores[0] has score 'high', not a finite number",
                f + ":3: only 1 response, a comparison needs at least 2",
                f + ":4: all 3 responses have the same score 3, so there is nothing to compare",
                f + ":5: the record has neither 'responses_and_scores' nor 'chosen' and 'rejected'");
        assertEquals(expected, l.skipped().stream().map(Skip::toString).toList());
        assertEquals(1 + 1 + 2, l.pairs());
        assertEquals(1, l.tiedPairs());
    }

    @Test
    void pairsAndTiesForGroupsOfTwoToFive() throws IOException {
        // reference: with c_v responses scoring v, ties = sum C(c_v, 2) and ordered pairs = C(K, 2) - ties
        Random rnd = TestSeeds.random();
        StringBuilder json = new StringBuilder("[");
        long pairs = 0, ties = 0;
        List<float[]> drawn = new ArrayList<>();
        for (int r = 0; r < 40; r++) {
            int k = 2 + r % 4;
            float[] s = new float[k];
            Map<Float, Integer> counts = new HashMap<>();
            for (int i = 0; i < k; i++) {
                s[i] = 1 + rnd.nextInt(3) * 0.5f;
                counts.merge(s[i], 1, Integer::sum);
            }
            long t = counts.values().stream().mapToLong(c -> (long) c * (c - 1) / 2).sum();
            if (counts.size() == 1) continue;  // all tied: skipped, tested above
            drawn.add(s);
            pairs += (long) k * (k - 1) / 2 - t;
            ties += t;
            json.append(drawn.size() > 1 ? "," : "").append("{\"user_input\": \"q").append(r).append("\", \"responses_and_scores\": [");
            for (int i = 0; i < k; i++) {
                json.append(i > 0 ? "," : "").append("[\"r").append(i).append("\", ")
                        .append(i % 2 == 0 ? String.valueOf(s[i]) : "\"" + s[i] + "\"").append("]");
            }
            json.append("]}");
        }
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(write("k.json", json.append("]").toString())), true);
        assertEquals(drawn.size(), l.groups().size());
        assertTrue(ties > 0 && pairs > 0);
        assertEquals(pairs, l.pairs());
        assertEquals(ties, l.tiedPairs());
        for (int g = 0; g < drawn.size(); g++) assertArrayEquals(drawn.get(g), l.groups().get(g).scores());
    }

    @Test
    void scoringModeTakesMissingScoresAndSingleResponses() throws IOException {
        Path f = write("s.json", """
                [{"user_input": "q", "responses_and_scores": [{"response": "a"}]},
                 {"user_input": "q2", "responses_and_scores": [["a", 3], ["b"], ["c", "?"]]},
                 {"user_input": "q3", "responses_and_scores": [["a"], ["b", null, "gpt4"]]}]""");
        PreferenceReader.Loaded l = PreferenceReader.read(List.of(f), false);
        assertEquals(List.of(), l.skipped());
        assertEquals(3, l.groups().size());
        assertEquals(1, l.groups().get(0).size());
        assertTrue(Float.isNaN(l.groups().get(0).scores()[0]));
        assertEquals(3f, l.groups().get(1).scores()[0]);
        assertTrue(Float.isNaN(l.groups().get(1).scores()[2]));
        assertEquals(List.of("", "gpt4"), l.groups().get(2).sources());
        assertEquals(0, l.pairs());
        // the same file cannot train a reward model
        assertEquals(3, PreferenceReader.read(List.of(f), true).skipped().size());
    }

    @Test
    void filesThatAreNotPreferenceDataNameTheFile() throws IOException {
        Path sft = write("sft.json", "[{\"instruction\": \"a\", \"output\": \"b\"}]");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PreferenceReader.read(List.of(sft), true));
        assertTrue(e.getMessage().startsWith(sft + " is not preference data"), e.getMessage());
        Path broken = write("b.jsonl", "{\"prompt\": \"a\", \"chosen\": \"x\", \"rejected\": \"y\"}\n{\"prompt\": \n");
        IOException io = assertThrows(IOException.class, () -> PreferenceReader.read(List.of(broken), true));
        assertTrue(io.getMessage().startsWith(broken + " line 2 is not JSON"), io.getMessage());
        Path text = write("t.json", "user_input,score\nq,3\n");
        io = assertThrows(IOException.class, () -> PreferenceReader.read(List.of(text), false));
        assertTrue(io.getMessage().startsWith(text + " is not JSON"), io.getMessage());
    }
}
