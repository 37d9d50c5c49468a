package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One input record of a job, with the id that marks it done in the output ({@code "id"} of every
 * output line) so a restarted run skips it.
 *
 * @param id     stable across runs: the record's own id, else its index in the input file
 * @param source the input record as read, fields in their order
 */
public record Item(String id, ObjectNode source) {}
