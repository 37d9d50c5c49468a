package org.gpt4llm.data;

import static org.gpt4llm.data.TestTokenizers.BOS;
import static org.gpt4llm.data.TestTokenizers.EOS;
import static org.gpt4llm.model.TokenBatch.IGNORE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.gpt4llm.data.SftRecord.DataFormat;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SftEncoderTest {
    private static final Tokenizer CHARS = new TestTokenizers.Chars();
    private static final RecordRef REF = new RecordRef(Path.of("a.json"), 7, 0);

    @TempDir
    Path dir;

    private static SftRecord alpaca(String instruction, String input, String output) {
        return new SftRecord(REF, DataFormat.ALPACA, "", List.of(new Turn(instruction, input, output)));
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    private static int[] ignored(int n) {
        return IntStream.range(0, n).map(i -> IGNORE).toArray();
    }

    @Test
    void promptTokensAreMaskedAndOutputPlusEosSupervised() {
        String prompt = Template.ALPACA.prompt("Add.", "1 2");
        Example e = new SftEncoder(CHARS, null, 512, false).encode(alpaca("Add.", "1 2", "3"));
        int[] out = CHARS.encode("3");
        assertArrayEquals(concat(new int[] {BOS}, CHARS.encode(prompt), out, new int[] {EOS}), e.ids());
        assertArrayEquals(concat(ignored(1 + prompt.length()), out, new int[] {EOS}), e.labels());
        assertEquals(1 + prompt.length(), e.promptTokens());
        assertEquals(2, e.supervisedTokens());
    }

    @Test
    void trainOnInputsSupervisesThePromptTooButNeverBos() {
        String prompt = Template.ALPACA.prompt("Hi.", "");
        Example e = new SftEncoder(CHARS, Template.ALPACA, 512, true).encode(alpaca("Hi.", "", "yo"));
        assertArrayEquals(concat(new int[] {IGNORE}, CHARS.encode(prompt + "yo"), new int[] {EOS}), e.labels());
        assertEquals(prompt.length() + 3, e.supervisedTokens());
    }

    @Test
    void textsAreSeparateFullySupervisedDocumentsNeverPairs() throws IOException {
        Path f = Files.writeString(dir.resolve("d.json"), "[{\"instruction\": \"Add.\", \"input\": \"1 2\", \"output\": \"3\"},"
                + " {\"instruction\": \"Say hi to the reader.\", \"output\": \"hi\"}]");
        SftDataset d = SftDataset.load(List.of(f), CHARS, new SftDataset.Options(null, 8, false, false, true));
        List<String> texts = List.of("Add.", "1 2", "3", "Say hi to the reader.", "hi");
        assertEquals(texts.size(), d.examples().size(), "one example per field; the empty input is no text");
        for (int i = 0; i < texts.size(); i++) {
            int[] full = concat(new int[] {BOS}, CHARS.encode(texts.get(i)), new int[] {EOS});
            int[] ids = Arrays.copyOf(full, Math.min(full.length, 8));
            assertArrayEquals(ids, d.examples().get(i).ids(), texts.get(i));
            int[] labels = ids.clone();
            labels[0] = IGNORE;
            assertArrayEquals(labels, d.examples().get(i).labels(), texts.get(i));
        }
    }

    @Test
    void truncationKeepsThePromptAndCutsTheTarget() {
        int p = 1 + Template.ALPACA.prompt("Hi.", "").length();
        Example e = new SftEncoder(CHARS, null, p + 2, false).encode(alpaca("Hi.", "", "hello"));
        assertEquals(p + 2, e.length());
        assertArrayEquals(CHARS.encode("he"), Arrays.copyOfRange(e.labels(), p, p + 2));  // EOS cut with the tail
        Example fits = new SftEncoder(CHARS, null, p + 6, false).encode(alpaca("Hi.", "", "hello"));
        assertEquals(EOS, fits.ids()[p + 5]);
    }

    @Test
    void promptLongerThanMaxLenIsSkippedOrFailsStrictly() throws IOException {
        int p = 1 + Template.ALPACA.prompt("Hi.", "").length();
        Path f = Files.writeString(dir.resolve("d.json"), "[{\"instruction\": \"Hi.\", \"output\": \"a\"},"
                + " {\"instruction\": \"Hi. Hi.\", \"output\": \"b\"}]");
        SftDataset d = SftDataset.load(List.of(f), CHARS, new SftDataset.Options(null, p + 1, false, false));
        assertEquals(1, d.examples().size());
        String reason = "prompt of " + (p + 4) + " tokens is longer than --max-len " + (p + 1) + " allows";
        assertEquals(List.of(new Skip(new RecordRef(f, 1, 0), reason)), d.skipped());
        assertEquals("1 example, 1 record skipped: " + f + ":1: " + reason, d.report(5));
        MalformedRecordException e = assertThrows(MalformedRecordException.class,
                () -> SftDataset.load(List.of(f), CHARS, new SftDataset.Options(null, p + 1, false, true)));
        assertEquals(f + ":1: " + reason + ".", e.getMessage());
        // a prompt that exactly fills max-len leaves no room for the response either
        assertThrows(MalformedRecordException.class, () -> new SftEncoder(CHARS, null, p, false).encode(alpaca("Hi.", "", "a")));
    }

    @Test
    void aTokenMergedAcrossTheBoundaryCountsAsResponse() {
        Tokenizer words = new TestTokenizers.Words();
        String prompt = Template.ALPACA.prompt("Greet.", "");  // ends with "Response:", the output follows with no space
        Example e = new SftEncoder(words, null, 512, false).encode(alpaca("Greet.", "", "Sure thing"));
        int[] promptIds = words.encode(prompt), full = words.encode(prompt + "Sure thing");
        assertEquals(promptIds.length + 2, full.length);  // "Response:Sure" is one token
        assertArrayEquals(concat(new int[] {BOS}, full, new int[] {EOS}), e.ids());
        int b = promptIds.length - 1;  // the shared prefix
        assertArrayEquals(concat(ignored(1 + b), Arrays.copyOfRange(full, b, full.length), new int[] {EOS}), e.labels());
        assertEquals("Response:Sure thing", words.decode(Arrays.copyOfRange(full, b, full.length)));
    }

    @Test
    void conversationsTrainOnAssistantTurnsOnly() {
        SftRecord r = new SftRecord(REF, DataFormat.SHAREGPT, "Sys", List.of(new Turn("q1", "", "a1"), new Turn("q2", "", "a2")));
        Example e = new SftEncoder(CHARS, null, 512, false).encode(r);
        String p1 = "Sys\n\n### Human:\nq1\n\n### Assistant:\n", p2 = "### Human:\nq2\n\n### Assistant:\n";
        int[] eos = {EOS};
        assertArrayEquals(concat(new int[] {BOS}, CHARS.encode(p1 + "a1"), eos, CHARS.encode(p2 + "a2"), eos), e.ids());
        assertArrayEquals(concat(ignored(1 + p1.length()), CHARS.encode("a1"), eos, ignored(p2.length()), CHARS.encode("a2"), eos),
                e.labels());
        assertEquals(1 + p1.length(), e.promptTokens());
    }

    @Test
    void realDataEncodesWithEverySkipExplained() throws IOException {
        SftDataset d = SftDataset.load(List.of(SharedFiles.get("data/alpaca_gpt4_zh_1k.json"),
                SharedFiles.get("data/preference_pairs_en.json")), CHARS, SftDataset.Options.defaults());
        assertEquals(1300, d.examples().size() + d.skipped().size());
        assertTrue(d.skipped().stream().allMatch(s -> s.reason().startsWith("prompt of ")), d.report(3));
        assertTrue(d.examples().stream().allMatch(x -> x.length() <= 512 && x.supervisedTokens() > 0));
    }
}
