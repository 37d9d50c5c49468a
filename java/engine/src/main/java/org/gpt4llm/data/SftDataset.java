package org.gpt4llm.data;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.tokenizer.Tokenizer;
import org.gpt4llm.tokenizer.TrainingTexts;

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
     * @param texts    language-model pretraining: every text of the files ({@link TrainingTexts}: each field of
     *                 an Alpaca record, or each line of a .txt file) is one example {@code [BOS] text [EOS]},
     *                 every token trained on, cut at {@code maxLen}; nothing is templated or paired
     */
    public record Options(Template template, int maxLen, boolean trainOnInputs, boolean strict, boolean texts) {
        public Options(Template template, int maxLen, boolean trainOnInputs, boolean strict) {
            this(template, maxLen, trainOnInputs, strict, false);
        }

        public static Options defaults() {
            return new Options(null, DEFAULT_MAX_LEN, false, false);
        }
    }

    /**
     * Reads and tokenises {@code files}. Throws {@link MalformedRecordException} (one sentence naming
     * file and record) for the first unusable record when strict, IOException for an unreadable file.
     */
    public static SftDataset load(List<Path> files, Tokenizer tokenizer, Options options) throws IOException {
        if (options.texts()) return texts(files, tokenizer, options.maxLen());
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

    /** Each text of {@code files} as one fully supervised example (the first token aside: nothing predicts it). */
    static SftDataset texts(List<Path> files, Tokenizer tokenizer, int maxLen) throws IOException {
        List<Example> examples = new ArrayList<>();
        for (Path file : files) {
            List<String> texts = TrainingTexts.read(file);
            for (int i = 0; i < texts.size(); i++) {
                int[] body = tokenizer.encode(texts.get(i));
                boolean bos = tokenizer.bosId() >= 0, eos = tokenizer.eosId() >= 0;
                int[] ids = new int[body.length + (bos ? 1 : 0) + (eos ? 1 : 0)];
                if (bos) ids[0] = tokenizer.bosId();
                System.arraycopy(body, 0, ids, bos ? 1 : 0, body.length);
                if (eos) ids[ids.length - 1] = tokenizer.eosId();
                ids = java.util.Arrays.copyOf(ids, Math.min(ids.length, maxLen));
                if (ids.length < 2) continue;
                int[] labels = ids.clone();
                if (bos) labels[0] = org.gpt4llm.model.TokenBatch.IGNORE;
                examples.add(new Example(new RecordRef(file, i, 0), ids, labels, 0));
            }
        }
        return new SftDataset(List.copyOf(examples), List.of());
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
