package org.gpt4llm.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.io.AtomicFiles;

/** The tokenizer files of a model folder, carried into every folder trained from it so each loads as it is. */
public final class TokenizerFiles {
    /** What transformers' {@code AutoTokenizer} reads from a model folder. */
    static final List<String> NAMES = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "tokenizer.model", "vocab.json", "merges.txt", "generation_config.json");

    private TokenizerFiles() {}

    /** Copies the tokenizer files of model folder {@code base} (when not null) into {@code dir}, each atomically. */
    public static void copy(Path base, Path dir) throws IOException {
        if (base == null) return;
        for (String name : NAMES) {
            Path f = base.resolve(name);
            if (Files.isRegularFile(f)) AtomicFiles.copy(f, dir.resolve(name));
        }
    }
}
