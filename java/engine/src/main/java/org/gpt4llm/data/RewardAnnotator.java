package org.gpt4llm.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.gpt4llm.io.AtomicFiles;

/**
 * Writes a reward model's scores back into a copy of the file they came from ({@code gpt4llm rm score
 * --data IN --out OUT}): the same records in the same layout (a JSON array stays an array, JSONL stays
 * one record per line), every field kept in its place, with a reward added per response:
 * <ul>
 *   <li>comparison data: an entry {@code {response, score, source}} gains {@code "reward"} right after its
 *       score (at the end when it has none); an array entry keeps its shape and puts the reward fourth,
 *       {@code [response, score, source, reward]}, with null for an absent score or source, so the reward
 *       is never mistaken for a score or source when the file is read again.</li>
 *   <li>pairs: the record gains {@code "chosen_reward"} right after {@code chosen} and
 *       {@code "rejected_reward"} right after {@code rejected}.</li>
 * </ul>
 * Rewards already there (from an earlier run) are replaced in place. Records that were skipped when the
 * file was read get nothing and are listed in the result.
 */
public final class RewardAnnotator {
    private static final ObjectMapper JSON = new ObjectMapper();

    private RewardAnnotator() {}

    /**
     * @param annotated records that got rewards
     * @param left      records left as they were (skipped when the file was read)
     */
    public record Result(int annotated, List<RecordRef> left) {}

    /**
     * Writes {@code in} with {@code rewards[g]} (one per response of {@code groups[g]}, as
     * {@link PreferenceReader} read them from {@code in}) to {@code out}, atomically.
     */
    public static Result write(Path in, Path out, List<ScoredGroup> groups, List<float[]> rewards) throws IOException {
        if (groups.size() != rewards.size()) {
            throw new IllegalArgumentException(groups.size() + " groups but " + rewards.size() + " reward lists");
        }
        Map<Integer, Integer> groupAt = new HashMap<>();
        for (int g = 0; g < groups.size(); g++) {
            ScoredGroup group = groups.get(g);
            if (!sameFile(group.ref().file(), in)) {
                throw new IllegalArgumentException(group.ref().where() + " is not a record of " + in);
            }
            float[] r = rewards.get(g);
            if (r.length != group.size()) {
                throw new IllegalArgumentException(group.ref().where() + " has " + group.size() + " responses but "
                        + r.length + " rewards");
            }
            for (float v : r) {
                if (!Float.isFinite(v)) throw new IllegalArgumentException(group.ref().where() + " has a reward of " + v);
            }
            groupAt.put(group.ref().index(), g);
        }
        List<InstructionReader.Raw> raws = InstructionReader.rawRecords(in);
        List<JsonNode> records = new ArrayList<>(raws.size());
        List<RecordRef> left = new ArrayList<>();
        for (InstructionReader.Raw raw : raws) {
            Integer g = groupAt.remove(raw.ref().index());
            if (g == null) {
                records.add(raw.node());
                left.add(raw.ref());
            } else {
                records.add(annotate(raw.ref(), raw.node(), groups.get(g).size(), rewards.get(g)));
            }
        }
        if (!groupAt.isEmpty()) {
            throw new IllegalArgumentException(in + " has " + raws.size() + " records, fewer than when it was read");
        }
        if (in.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".jsonl")) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode r : records) sb.append(JSON.writeValueAsString(r)).append('\n');
            AtomicFiles.write(out, sb.toString().getBytes(StandardCharsets.UTF_8));
        } else {
            ArrayNode array = JsonNodeFactory.instance.arrayNode();
            array.addAll(records);
            AtomicFiles.writeJson(out, array);
        }
        return new Result(raws.size() - left.size(), List.copyOf(left));
    }

    private static boolean sameFile(Path a, Path b) {
        return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
    }

    private static JsonNode annotate(RecordRef ref, JsonNode node, int k, float[] rewards) {
        ObjectNode record = (ObjectNode) node;  // the reader accepted it, so it is an object
        if (record.has(PreferenceReader.COMPARISON)) {
            ArrayNode entries = (ArrayNode) record.get(PreferenceReader.COMPARISON);
            if (entries.size() != k) throw changed(ref);
            for (int i = 0; i < k; i++) {
                JsonNode e = entries.get(i);
                if (e instanceof ObjectNode o) {
                    entries.set(i, withField(o, "score", "reward", rewards[i]));
                } else {
                    ArrayNode a = (ArrayNode) e;
                    while (a.size() < 3) a.addNull();
                    if (a.size() == 4) a.set(3, rewards[i]);
                    else a.add(rewards[i]);
                }
            }
            return record;
        }
        if (k != 2) throw changed(ref);
        return withField(withField(record, "chosen", "chosen_reward", rewards[0]), "rejected", "rejected_reward", rewards[1]);
    }

    private static IllegalArgumentException changed(RecordRef ref) {
        return new IllegalArgumentException(ref.where() + " has changed since it was read");
    }

    /** {@code o} with {@code name: value} replaced in place, or else inserted right after {@code after} (or last). */
    private static ObjectNode withField(ObjectNode o, String after, String name, float value) {
        if (o.has(name) || !o.has(after)) return o.put(name, value);
        ObjectNode copy = JsonNodeFactory.instance.objectNode();
        for (Map.Entry<String, JsonNode> field : o.properties()) {
            copy.set(field.getKey(), field.getValue());
            if (field.getKey().equals(after)) copy.put(name, value);
        }
        return copy;
    }
}
