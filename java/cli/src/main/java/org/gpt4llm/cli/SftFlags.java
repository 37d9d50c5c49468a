package org.gpt4llm.cli;

import java.util.Map;
import picocli.CommandLine.Option;

/** The flags of supervised fine-tuning beyond {@link TrainingFlags}: what {@code sft} and {@code rft} train on of each example. */
final class SftFlags {
    @Option(names = "--train-on-inputs", description = "also train on the prompt tokens")
    Boolean trainOnInputs;

    @Option(names = "--texts", description = "language-model pretraining on the data's texts, each a document of its own:"
            + " every field of an Alpaca record (instruction, input, output) or line of a .txt file, never paired")
    Boolean texts;

    @Option(names = "--packing", description = "pack several examples per row (no attention across them)")
    Boolean packing;

    /** Adds the flags that were given to {@code f}, under their config keys. */
    void putInto(Map<String, Object> f) {
        TrainingFlags.putIfGiven(f, "train_on_inputs", trainOnInputs);
        TrainingFlags.putIfGiven(f, "packing", packing);
        TrainingFlags.putIfGiven(f, "texts", texts);
    }
}
