package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The key that marks an item done in an append-only output: the record's own id when it has one,
 * otherwise a hash of exactly what goes into its request. Two items with the same content get the
 * same key (they would get the same answer); any change to that content gives another key, so an
 * edited, inserted or re-ordered input does exactly the new work.
 */
public final class ContentKey {
    /** Objects with sorted keys, no whitespace: one text for one content, whatever order it was built in. */
    private static final ObjectMapper CANONICAL = JsonMapper.builder()
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .build();

    /** Hex digits of a content hash: 80 bits, so a collision among billions of items is out of reach. */
    static final int HASH_CHARS = 20;

    private ContentKey() {}

    /** {@code "id:" + id}: the key of a record that carries its own id. */
    public static String ofId(String id) {
        return "id:" + id;
    }

    /** {@code "sha256:" + hex}: the key of a request's content, a JSON value (objects compared by key, not order). */
    public static String ofContent(JsonNode content) {
        try {
            byte[] canonical = CANONICAL.writeValueAsBytes(CANONICAL.treeToValue(content, Object.class));
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(canonical);
            return "sha256:" + HexFormat.of().formatHex(digest).substring(0, HASH_CHARS);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("content that is not JSON: " + e.getMessage(), e);
        }
    }

    /** The same, over a content given as text. */
    public static String ofText(String content) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(content.getBytes(StandardCharsets.UTF_8));
            return "sha256:" + HexFormat.of().formatHex(digest).substring(0, HASH_CHARS);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }
}
