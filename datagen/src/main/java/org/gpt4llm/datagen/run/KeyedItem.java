package org.gpt4llm.datagen.run;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.job.Item;

/**
 * An input item with its key: {@link ContentKey#ofId} of its own id, or {@link ContentKey#ofContent}
 * of its request; with an own id also its content's hash, so that an edited record with the same id
 * is asked again.
 *
 * @param contentKey the content's hash where the key is an own id, else null (the key is that hash)
 */
record KeyedItem(Item item, String key, String contentKey) {
    static KeyedItem of(Item item) {
        String content = ContentKey.ofContent(item.request());
        return item.ownId() == null ? new KeyedItem(item, content, null)
                : new KeyedItem(item, ContentKey.ofId(item.ownId()), content);
    }

    /** What an output line must hold to answer this item: its key, and its content's hash with an own id. */
    String identity() {
        return identity(key, contentKey);
    }

    static String identity(String key, String contentKey) {
        return contentKey == null ? key : key + " " + contentKey;
    }

    /**
     * The requests of {@code items}: each identity once, with every position that asks it, in input
     * order. An own id twice is an error naming the records; the same request without ids is asked once
     * and noted on {@code notes}, naming the records.
     */
    static Map<String, List<KeyedItem>> requests(List<KeyedItem> items, PrintWriter notes) {
        Map<String, List<KeyedItem>> byKey = new LinkedHashMap<>();
        for (KeyedItem k : items) byKey.computeIfAbsent(k.key(), x -> new ArrayList<>()).add(k);
        List<List<KeyedItem>> sameId = new ArrayList<>(), sameContent = new ArrayList<>();
        for (List<KeyedItem> group : byKey.values()) {
            if (group.size() > 1) (group.getFirst().contentKey() != null ? sameId : sameContent).add(group);
        }
        if (!sameId.isEmpty()) {
            List<KeyedItem> g = sameId.getFirst();
            throw new IllegalArgumentException(places(g) + " have the same id \"" + g.getFirst().item().ownId()
                    + "\"; every record needs an id of its own" + (sameId.size() > 1 ? " (" + (sameId.size() - 1)
                    + " more ids repeat)" : ""));
        }
        int shown = 0;
        for (List<KeyedItem> g : sameContent) {
            if (shown++ == MAX_NOTES) {
                notes.println("... and " + (sameContent.size() - MAX_NOTES) + " more requests asked at several places");
                break;
            }
            notes.println(places(g) + " ask the same (no id of their own, the same content): asked once, the answer exported at each");
        }
        Map<String, List<KeyedItem>> requests = new LinkedHashMap<>();
        for (KeyedItem k : items) requests.computeIfAbsent(k.identity(), x -> new ArrayList<>()).add(k);
        return requests;
    }

    private static final int MAX_NOTES = 20;

    /** "a.json: record 3, a.json: record 7 and a.json: record 9". */
    private static String places(List<KeyedItem> group) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < group.size(); i++) {
            if (i > 0) sb.append(i == group.size() - 1 ? " and " : ", ");
            sb.append(group.get(i).item().where());
        }
        return sb.toString();
    }
}
