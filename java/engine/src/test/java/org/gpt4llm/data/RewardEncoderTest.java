package org.gpt4llm.data;

import static org.gpt4llm.data.TestTokenizers.BOS;
import static org.gpt4llm.data.TestTokenizers.EOS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.gpt4llm.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

class RewardEncoderTest {
    private static final Tokenizer CHARS = new TestTokenizers.Chars();
    private static final RecordRef REF = new RecordRef(Path.of("r.json"), 3, 0);

    private static ScoredGroup group(List<Turn> history, String instruction, String... responses) {
        float[] scores = new float[responses.length];
        for (int i = 0; i < scores.length; i++) scores[i] = responses.length - i;
        return new ScoredGroup(REF, "", history, instruction, "", List.of(responses), scores,
                Arrays.stream(responses).map(r -> "").toList());
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    @Test
    void rowsAreTheSftTokensOfTheConversationEachResponseCompletes() {
        ScoredGroup g = new ScoredGroup(REF, "Be kind.", List.of(new Turn("Hi", "", "Hello there")), "Tell me a joke", "",
                List.of("Why did the chicken cross the road?", "No."), new float[] {7, 2}, List.of("gpt4", "icm"));
        for (Tokenizer tok : List.of(CHARS, new TestTokenizers.Words())) {
            RewardEncoder enc = new RewardEncoder(tok, Template.CHAT, 4096);
            EncodedGroup e = enc.encode(g);
            assertEquals(REF, e.ref());
            assertArrayEquals(new float[] {7, 2}, e.scores());
            for (int k = 0; k < 2; k++) {
                int[] sft = new SftEncoder(tok, Template.CHAT, 4096, false).encode(g.record(k)).ids();
                assertArrayEquals(sft, e.rows()[k]);
                assertEquals(BOS, e.rows()[k][0]);
                assertEquals(EOS, e.rows()[k][e.rows()[k].length - 1]);
            }
            assertEquals(0, enc.truncatedRows());
        }
        // with the character tokenizer the row is exactly BOS, prompt text, response, EOS (history turn ends in EOS)
        String firstTurn = "Be kind.\n\n" + Template.CHAT.prompt("Hi", "") + "Hello there";
        int[] expected = concat(new int[] {BOS}, CHARS.encode(firstTurn), new int[] {EOS},
                CHARS.encode(Template.CHAT.prompt("Tell me a joke", "") + "No."), new int[] {EOS});
        assertArrayEquals(expected, new RewardEncoder(CHARS, Template.CHAT, 4096).encode(g).rows()[1]);
    }

    @Test
    void longPromptLosesItsStartAndKeepsItsEndNextToTheResponse() {
        String instruction = "0123456789".repeat(10);
        ScoredGroup g = group(List.of(), instruction, "short", "tiny");
        String prompt = Template.PLAIN.prompt(instruction, "");
        int maxLen = 40;
        RewardEncoder enc = new RewardEncoder(CHARS, Template.PLAIN, maxLen);
        EncodedGroup e = enc.encode(g);
        for (int k = 0; k < 2; k++) {
            String response = g.responses().get(k);
            int keptPrompt = maxLen - 2 - response.length();
            int[] expected = concat(new int[] {BOS}, CHARS.encode(prompt.substring(prompt.length() - keptPrompt)),
                    CHARS.encode(response), new int[] {EOS});
            assertArrayEquals(expected, e.rows()[k]);
        }
        assertEquals(2, enc.truncatedRows());
    }

    @Test
    void longResponseKeepsAQuarterOfTheRowForThePromptAndItsEos() {
        String instruction = "abcdefghijklmnopqrstuvwxyz", response = "ZYXWVUTSRQPONMLKJIHGFEDCBA".repeat(4);
        String prompt = Template.PLAIN.prompt(instruction, "");
        int maxLen = 48;
        RewardEncoder enc = new RewardEncoder(CHARS, Template.PLAIN, maxLen);
        int[] row = enc.encode(group(List.of(), instruction, response)).rows()[0];
        int keptPrompt = maxLen / 4, keptResponse = maxLen - 2 - keptPrompt;
        int[] expected = concat(new int[] {BOS}, CHARS.encode(prompt.substring(prompt.length() - keptPrompt)),
                CHARS.encode(response.substring(0, keptResponse)), new int[] {EOS});
        assertArrayEquals(expected, row);
        assertEquals(1, enc.truncatedRows());

        // a prompt shorter than a quarter of the row is kept whole
        int[] shortPrompt = enc.encode(group(List.of(), "q", response)).rows()[0];
        String p = Template.PLAIN.prompt("q", "");
        assertArrayEquals(concat(new int[] {BOS}, CHARS.encode(p), CHARS.encode(response.substring(0, maxLen - 2 - p.length())),
                new int[] {EOS}), shortPrompt);
    }

    @Test
    void historyIsDroppedFromTheOldestEnd() {
        ScoredGroup g = group(List.of(new Turn("first question", "", "first answer")), "now?", "yes", "no");
        int[] full = new RewardEncoder(CHARS, Template.CHAT, 4096).encode(g).rows()[0];
        int maxLen = full.length - 10;
        int[] cut = new RewardEncoder(CHARS, Template.CHAT, maxLen).encode(g).rows()[0];
        assertEquals(maxLen, cut.length);
        assertEquals(BOS, cut[0]);
        assertArrayEquals(Arrays.copyOfRange(full, 11, full.length), Arrays.copyOfRange(cut, 1, cut.length));
    }

    @Test
    void maxLenMustLeaveRoomForAToken() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RewardEncoder(CHARS, Template.CHAT, 2));
        assertEquals("--max-len must be at least 3, got 2", e.getMessage());
    }
}
