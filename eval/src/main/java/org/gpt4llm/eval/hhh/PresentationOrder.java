package org.gpt4llm.eval.hhh;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * Which answer a rater sees on the left: a coin flip seeded by rater and question, so the order is
 * random across questions and raters (no position bias) yet a reload shows the same page.
 */
public final class PresentationOrder {
    private PresentationOrder() {}

    public static boolean leftIsA(String rater, String questionId) {
        try {
            // SHA-256 rather than String.hashCode: its low bit is well mixed and stable across JDKs
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] h = sha.digest((rater + "\n" + questionId).getBytes(StandardCharsets.UTF_8));
            return (h[0] & 1) == 0;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
