package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.datagen.run.OutputLog.Line;

/**
 * What an output holds for the current input: the record of each request a line answers (same key,
 * same content), the records that lines of an earlier version give by position, and how many lines
 * answer nothing the input asks any more (kept in the file, never exported).
 *
 * @param done     record by {@link KeyedItem#identity}, for the requests of the input that are done
 * @param upgrades the records of {@code done} read from lines of an earlier version, to be written again with their keys
 * @param stale    lines that answer no request of the input
 */
record OutputState(Map<String, ObjectNode> done, Map<String, ObjectNode> upgrades, int stale) {

    /**
     * Matches {@code lines} of {@code out} to {@code requests}. A line of other settings refuses the
     * file in one sentence (never mixed). Lines of an earlier version (no key, their "id" the item's
     * index) are matched to the item of that id, with a one-line warning on {@code notes}; one that a
     * keyed line already holds (a run of this version keyed it) is passed over.
     */
    static OutputState of(List<Line> lines, Map<String, List<KeyedItem>> requests, RunSettings settings, Path out, PrintWriter notes) {
        Map<String, ObjectNode> keyed = new HashMap<>();
        for (Line l : lines) {
            if (l.legacy()) continue;
            settings.difference(l.settings(), out).ifPresent(why -> {
                throw new IllegalArgumentException(why);
            });
            keyed.putIfAbsent(KeyedItem.identity(l.key(), l.contentKey()), l.record());
        }
        Map<String, ObjectNode> done = new LinkedHashMap<>();
        int stale = 0;
        for (Line l : lines) if (!l.legacy() && !requests.containsKey(KeyedItem.identity(l.key(), l.contentKey()))) stale++;

        Set<ObjectNode> keyedRecords = new HashSet<>(keyed.values());
        Map<String, ObjectNode> legacy = new HashMap<>();
        int legacyLines = 0;
        for (Line l : lines) {
            if (!l.legacy() || keyedRecords.contains(l.record())) continue;
            legacyLines++;
            if (legacy.putIfAbsent(l.legacyId(), l.record()) != null) stale++; // the same id twice: the first counts
        }
        Map<String, ObjectNode> upgrades = new LinkedHashMap<>();
        Set<String> usedLegacy = new HashSet<>();
        for (Map.Entry<String, List<KeyedItem>> request : requests.entrySet()) {
            ObjectNode r = keyed.get(request.getKey());
            if (r == null) {
                for (KeyedItem k : request.getValue()) {
                    r = legacy.get(k.item().id());
                    if (r != null) {
                        usedLegacy.add(k.item().id());
                        upgrades.put(request.getKey(), r);
                        break;
                    }
                }
            }
            if (r != null) done.put(request.getKey(), r);
        }
        for (String id : legacy.keySet()) if (!usedLegacy.contains(id)) stale++;
        if (legacyLines > 0) {
            notes.println(out + " holds " + legacyLines + " lines of an earlier version, without keys: they are matched to the input"
                    + " by position (their \"id\") as that version did, taken as made with this run's settings, and written again with keys"
                    + " by a run");
            notes.flush();
        }
        return new OutputState(done, upgrades, stale);
    }

    /** Input positions whose request is done. */
    int donePositions(Map<String, List<KeyedItem>> requests) {
        int n = 0;
        for (var e : requests.entrySet()) if (done.containsKey(e.getKey())) n += e.getValue().size();
        return n;
    }
}
