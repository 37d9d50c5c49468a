package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;

/**
 * One of the paper's collection pipelines: what it reads, what it asks the teacher per item, what
 * record it keeps, and how the kept records become the released JSON file. A runner (not the job)
 * owns concurrency, resuming, the output file and progress.
 */
public interface Job {
    /** "alpaca", "translate", "compare", "unnatural", "instructions". */
    String name();

    /**
     * The items of {@code input}, each with its own id or the content of its requests (see {@link Item});
     * a malformed record is one clear error naming the file and record.
     */
    List<Item> read(Path input) throws IOException;

    /**
     * What besides an item's content decides its answer, as flat names and values: the job, temperature,
     * max tokens, a translator model, a judge mode... Every output line records them with the teacher
     * model and a hash of {@link #prompts}, and an output of other settings is refused.
     */
    ObjectNode settings();

    /** The prompt templates and system prompts the requests are built from: an edited prompt is another run's work. */
    List<String> prompts();

    /** The requests {@link #run} would send first for {@code item}, for {@code --dry-run}. */
    List<ChatRequest> preview(Item item);

    /**
     * Everything the item needs from the teacher (one or several calls), as the output record: its
     * fields in the released file's order. A teacher failure propagates; an answer the job cannot use
     * (an unparseable score) is a {@link TeacherException} too, with the reason.
     */
    ObjectNode run(Item item, Teacher teacher) throws TeacherException;

    /**
     * The record of {@code item} from an output line written for its key: what the teacher gave as it
     * was kept, and what the record repeats of the input as the item has it now (an input field that
     * is not part of the request, or another position with the same request). By default the record
     * as kept.
     */
    default ObjectNode resumed(Item item, ObjectNode record) {
        return record;
    }

    /** The released file's form of the finished records, in input order (the paper's JSON: same field names and order). */
    JsonNode export(List<ObjectNode> records);
}
