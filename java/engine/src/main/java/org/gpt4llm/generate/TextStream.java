package org.gpt4llm.generate;

import java.util.Arrays;
import java.util.List;
import org.gpt4llm.tokenizer.Tokenizer;

/**
 * The text of one generated sequence as it grows, token by token: the generated ids so far are decoded
 * whole and the new suffix is what may be streamed, less what must wait:
 * <ul>
 *   <li>trailing U+FFFD, an incomplete UTF-8 character (byte-fallback or byte-level tokens not yet
 *       all generated), until the character completes or the text ends;</li>
 *   <li>a tail that could be the start of a stop string, until it can no longer be one.</li>
 * </ul>
 * When a stop string appears the text is cut before it and the stream ends; its tokens are dropped.
 */
final class TextStream {
    private final Tokenizer tokenizer;
    private final List<String> stops;
    private int[] ids = new int[64];
    private int count;
    private String text = "";
    private int emitted;
    private int stopAt = -1;

    TextStream(Tokenizer tokenizer, List<String> stops) {
        this.tokenizer = tokenizer;
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** Appends a token and returns the text that may be streamed now ("" when none). */
    String add(int token) {
        if (stopped()) throw new IllegalStateException("the text already ended at a stop string");
        if (count == ids.length) ids = Arrays.copyOf(ids, 2 * count);
        ids[count++] = token;
        text = tokenizer.decode(Arrays.copyOf(ids, count));
        for (String s : stops) {
            int at = text.indexOf(s);
            if (at >= 0 && (stopAt < 0 || at < stopAt)) stopAt = at;
        }
        if (stopped()) {
            text = text.substring(0, stopAt);
            return finish();
        }
        int safe = text.length();
        while (safe > emitted && text.charAt(safe - 1) == '\uFFFD') safe--;
        safe = Math.min(safe, possibleStopStart(text));
        return take(safe);
    }

    /** Whether a stop string ended the text. */
    boolean stopped() {
        return stopAt >= 0;
    }

    /** The rest of the text, held back or not (the sequence is over). */
    String finish() {
        return take(text.length());
    }

    /** The text so far, cut before a stop string. */
    String text() {
        return text;
    }

    /** The generated ids, without those of a stop string (the longest prefix whose text ends before it). */
    int[] tokens() {
        if (!stopped()) return Arrays.copyOf(ids, count);
        int k = count;
        while (k > 0 && tokenizer.decode(Arrays.copyOf(ids, k)).length() > stopAt) k--;
        return Arrays.copyOf(ids, k);
    }

    /** The earliest position whose suffix is a proper prefix of a stop string (the text's length if none). */
    private int possibleStopStart(String t) {
        int start = t.length();
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, t.length()); k > 0; k--) {
                if (t.length() - k >= start) break;
                if (t.regionMatches(t.length() - k, s, 0, k)) {
                    start = t.length() - k;
                    break;
                }
            }
        }
        return start;
    }

    /** Text from what was streamed up to {@code end}; a decode that rewrote streamed text streams only what is past it. */
    private String take(int end) {
        if (end <= emitted) return "";
        String delta = text.substring(emitted, end);
        emitted = end;
        return delta;
    }
}
