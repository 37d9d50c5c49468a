package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.tokenizer.BpeTrainer;
import org.gpt4llm.tokenizer.ByteLevelBpe;
import org.gpt4llm.tokenizer.TrainingTexts;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Trains a byte-level BPE tokenizer and writes it as HF tokenizer.json + tokenizer_config.json. */
@Command(name = "init-tokenizer", mixinStandardHelpOptions = true,
        description = "Train a byte-level BPE tokenizer (GPT-2 style, special tokens <s> </s> <unk> <pad> = 0..3) on text files.")
public final class InitTokenizerCommand implements Callable<Integer> {
    @Option(names = "--data", required = true, split = ",", description = "Alpaca .json/.jsonl or plain .txt files, comma-separated")
    List<Path> data;

    @Option(names = "--vocab", required = true, description = "vocabulary size, at least " + ByteLevelBpe.MIN_VOCAB)
    int vocab;

    @Mixin
    ModelOutFlags written = new ModelOutFlags();

    @Option(names = "--min-frequency", defaultValue = "2", description = "a pair is merged only if it occurs this often (default ${DEFAULT-VALUE})")
    int minFrequency;

    @Option(names = "--model-max-length", defaultValue = "2048", description = "model_max_length in tokenizer_config.json (default ${DEFAULT-VALUE})")
    int modelMaxLength;

    @Override
    public Integer call() throws Exception {
        BpeTrainer trainer = new BpeTrainer(vocab, minFrequency);
        if (modelMaxLength < 1) throw new IllegalArgumentException("--model-max-length must be positive, got " + modelMaxLength);
        Path out = written.tokenizerFolder();
        long texts = 0;
        for (Path file : data) {
            for (String text : TrainingTexts.read(file)) {
                trainer.add(text);
                texts++;
            }
        }
        if (texts == 0) throw new IllegalArgumentException("--data " + data + " holds no text to train on");
        ByteLevelBpe bpe = trainer.train();
        bpe.write(out, modelMaxLength);
        System.out.printf(Locale.ROOT, "wrote %s: byte-level BPE, vocab %d (%d merges) from %,d texts in %d file(s)%n",
                out, bpe.vocabSize(), bpe.mergeCount(), texts, data.size());
        if (bpe.vocabSize() < vocab) {
            System.out.printf(Locale.ROOT, "note: the text has no more pairs occurring %d times; the vocabulary stopped at %d of the %d asked%n",
                    minFrequency, bpe.vocabSize(), vocab);
        }
        return 0;
    }
}
