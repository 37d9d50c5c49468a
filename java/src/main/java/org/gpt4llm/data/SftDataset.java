package org.gpt4llm.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.tokenizer.Tokenizer;

/**
 * Tokenised training examples from data files, with every record that was left out and why
 * (malformed, or a prompt longer than {@code --max-len}).
 */
public record SftDataset(List<Example> examples, List<Skip> skipped) {
    public static final int DEFAULT_MAX_LEN = 512;

    /**
     * What the data options of {@code gpt4llm sft} decide.
     *
     * @param template null for each file format's default (alpaca for Alpaca, chat for ShareGPT)
     * @param strict   a record that cannot be used ends the load instead of being skipped
     */
    public record Options(Template template, int maxLen, boolean trainOnInputs, boolean strict) {
        public static Options defaults() {
            return new Options(null, DEFAULT_MAX_LEN, false, false);
        }
    }

    /**
     * Reads and tokenises {@code files}. Throws {@link MalformedRecordException} (one sentence naming
     * file and record) for the first unusable record when strict, IOException for an unreadable file.
     */
    public static SftDataset load(List<Path> files, Tokenizer tokenizer, Options options) throws IOException {
        InstructionReader.Loaded loaded = InstructionReader.read(files, options.strict());
        return encode(loaded.records(), loaded.skipped(), tokenizer, options);
    }

    /** Tokenises records already read; {@code skipped} are earlier skips to carry along. */
    public static SftDataset encode(List<SftRecord> records, List<Skip> skipped, Tokenizer tokenizer, Options options) {
        SftEncoder encoder = new SftEncoder(tokenizer, options.template(), options.maxLen(), options.trainOnInputs());
        List<Example> examples = new ArrayList<>(records.size());
        List<Skip> skips = new ArrayList<>(skipped);
        for (SftRecord r : records) {
            try {
                examples.add(encoder.encode(r));
            } catch (MalformedRecordException e) {
                if (options.strict()) throw e;
                skips.add(e.skip());
            }
        }
        return new SftDataset(List.copyOf(examples), List.copyOf(skips));
    }

    public long supervisedTokens() {
        return examples.stream().mapToLong(Example::supervisedTokens).sum();
    }

    /**
     * A summary for the log: counts, then the first {@code listed} skipped records with their
     * reasons, e.g. {@code "998 examples, 1 record skipped: a.json:17: the record has no 'output' field"}.
     */
    public String report(int listed) {
        StringBuilder sb = new StringBuilder();
        sb.append(examples.size()).append(examples.size() == 1 ? " example" : " examples");
        if (skipped.isEmpty()) return sb.append(", no record skipped").toString();
        sb.append(", ").append(skipped.size()).append(skipped.size() == 1 ? " record skipped" : " records skipped");
        for (int i = 0; i < Math.min(listed, skipped.size()); i++) sb.append(i == 0 ? ": " : "; ").append(skipped.get(i));
        if (skipped.size() > listed) sb.append("; ...");
        return sb.toString();
    }
}
