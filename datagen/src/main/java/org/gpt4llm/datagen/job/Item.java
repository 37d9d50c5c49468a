package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One input record of a job, with what the runner keys it by: its own id when it has one, else the
 * hash of what goes into its requests. A restarted or changed run skips exactly the items an output
 * line already answers, wherever they now stand in the input.
 *
 * @param id      how messages name it, and what earlier versions wrote as the line's {@code "id"}: the
 *                record's index in the input, or the id the job always used (a question id, say)
 * @param where   the file and line (or record) it came from, for messages about duplicates
 * @param source  what the job needs of the record, fields in their order
 * @param ownId   the record's own id ({@code "id"}, {@code "question_id"}), or null when it has none
 * @param request every field of the item that goes into its requests (instruction and input, the
 *                answers rated, ...): an edit to any of them makes the item new work
 */
public record Item(String id, String where, ObjectNode source, String ownId, JsonNode request) {
    /** The record's own id in {@code node.get(field)} (text or integer), or null when it has none. */
    public static String ownId(ObjectNode node, String field) {
        JsonNode v = node.get(field);
        return v != null && (v.isTextual() || v.isIntegralNumber()) ? v.asText() : null;
    }
}
