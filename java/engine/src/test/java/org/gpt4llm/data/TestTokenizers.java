package org.gpt4llm.data;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.tokenizer.Tokenizer;

/** Small tokenizers with known behaviour, and the shared data folder. */
final class TestTokenizers {
    static final int PAD = 0, BOS = 1, EOS = 2;

    private TestTokenizers() {}

    /** One token per code point (id = code point + 3): no merges, so token counts are string lengths. */
    static final class Chars implements Tokenizer {
        @Override
        public int[] encode(String text) {
            return text.codePoints().map(c -> c + 3).toArray();
        }

        @Override
        public String decode(int[] ids) {
            StringBuilder sb = new StringBuilder();
            for (int id : ids) if (id > 2) sb.appendCodePoint(id - 3);
            return sb.toString();
        }

        @Override public int vocabSize() { return 0x110000 + 3; }
        @Override public int bosId() { return BOS; }
        @Override public int eosId() { return EOS; }
        @Override public int padId() { return PAD; }
    }

    /** One token per run of non-blank or of blank characters: "Response:" + "Sure" merge into one token. */
    static final class Words implements Tokenizer {
        private static final Pattern RUN = Pattern.compile("\\s+|\\S+");
        private final Map<String, Integer> ids = new HashMap<>();
        private final List<String> words = new ArrayList<>();

        @Override
        public int[] encode(String text) {
            Matcher m = RUN.matcher(text);
            List<Integer> out = new ArrayList<>();
            while (m.find()) {
                out.add(ids.computeIfAbsent(m.group(), w -> {
                    words.add(w);
                    return words.size() + 2;
                }));
            }
            return out.stream().mapToInt(Integer::intValue).toArray();
        }

        @Override
        public String decode(int[] tokens) {
            StringBuilder sb = new StringBuilder();
            for (int id : tokens) if (id > 2) sb.append(words.get(id - 3));
            return sb.toString();
        }

        @Override public int vocabSize() { return words.size() + 3; }
        @Override public int bosId() { return BOS; }
        @Override public int eosId() { return EOS; }
        @Override public int padId() { return PAD; }
    }
}
