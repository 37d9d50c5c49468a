package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The failures file beside an output ({@code answers.jsonl} → {@code answers.failures.jsonl}): the
 * requests still failing, one line each, keyed as the output is:
 * {@code {"id", "key", ["content_key",] "settings", "reason", "status", "attempts"}}. It is only
 * bookkeeping (how many runs tried an item), so lines it cannot read, or of other settings, are passed over.
 */
final class FailureLog {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The failures of earlier runs by {@link KeyedItem#identity}, and those of an earlier version (no key) by item id. */
    private final Map<String, Failure> byIdentity = new HashMap<>(), byLegacyId = new HashMap<>();

    private FailureLog() {}

    /** {@code answers.jsonl} → {@code answers.failures.jsonl}. */
    static Path file(Path out) {
        String name = out.getFileName().toString();
        String stem = name.endsWith(".jsonl") ? name.substring(0, name.length() - 6) : name;
        return out.resolveSibling(stem + ".failures.jsonl");
    }

    static FailureLog read(Path file, RunSettings settings) throws IOException {
        FailureLog log = new FailureLog();
        if (!Files.exists(file)) return log;
        // decoded leniently: a run killed mid-line can cut a character in half, and such a line is skipped anyway
        for (String line : new String(Files.readAllBytes(file), StandardCharsets.UTF_8).lines().toList()) {
            JsonNode n;
            try {
                n = JSON.readTree(line);
            } catch (IOException e) {
                continue; // a partial line from a killed run
            }
            if (n == null || !n.path("id").isTextual()) continue;
            Failure f = new Failure(n.get("id").asText(), n.path("reason").asText("no reason given"), n.path("status").asInt(0),
                    n.path("attempts").asInt(1));
            if (!n.has("key")) log.byLegacyId.put(f.id(), f);
            else if (settings.matches(n.get("settings"))) {
                log.byIdentity.put(KeyedItem.identity(n.path("key").asText(), n.path("content_key").isTextual()
                        ? n.get("content_key").asText() : null), f);
            }
        }
        return log;
    }

    /** The failure an earlier run recorded for the request of {@code item}, or null. */
    Failure previous(KeyedItem item) {
        Failure f = byIdentity.get(item.identity());
        return f != null ? f : byLegacyId.get(item.item().id());
    }

    /** The failures file's line for {@code failure} of the request of {@code item}. */
    static ObjectNode line(KeyedItem item, Failure failure, RunSettings settings) {
        ObjectNode n = JSON.createObjectNode().put("id", failure.id()).put("key", item.key());
        if (item.contentKey() != null) n.put("content_key", item.contentKey());
        n.set("settings", settings.values());
        return n.put("reason", failure.reason()).put("status", failure.status()).put("attempts", failure.attempts());
    }

    /** Rewrites {@code file} with exactly {@code lines} (removed when there are none), atomically. */
    static void write(Path file, List<ObjectNode> lines) throws IOException {
        if (lines.isEmpty()) {
            Files.deleteIfExists(file);
            return;
        }
        StringBuilder sb = new StringBuilder();
        for (ObjectNode n : lines) sb.append(JSON.writeValueAsString(n)).append('\n');
        JobRunner.writeAtomically(file, sb.toString().getBytes(StandardCharsets.UTF_8));
    }
}
