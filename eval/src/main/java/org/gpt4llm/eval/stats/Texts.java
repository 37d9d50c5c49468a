package org.gpt4llm.eval.stats;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.job.JsonRecords;

/** One text field of every record of a JSON array or JSONL file (Alpaca's {@code instruction}, {@code output}). */
public final class Texts {
    private Texts() {}

    public static List<String> read(Path file, String field) throws IOException {
        List<String> out = new ArrayList<>();
        for (JsonRecords.Located r : JsonRecords.read(file)) out.add(JsonRecords.required(r, field));
        return out;
    }
}
