package org.gpt4llm.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --model}: the model folder a command reads (config.json, safetensors, tokenizer). Not the
 * {@code --model} of the commands that ask a teacher ({@link TeacherFlags}), which names a model of an
 * API, nor that of {@code sft} and {@code rm}, a key of the run's configuration ({@link TrainingFlags}).
 * A command that reads a particular kind of model says which in {@code SharedFlags.properties}.
 */
final class ModelFlag {
    @Option(names = "--model", required = true, description = "HF model folder (config.json, safetensors, tokenizer.json)")
    Path model;

    /** --model, refused in one sentence unless it is a model folder. */
    Path folder() {
        return requireModelFolder("--model", model);
    }

    /**
     * A reward model's folder given by {@code flag}: a model folder, or the adapter folder of a LoRA
     * reward model ({@code gpt4llm rm --lora-rank}); else refused in one sentence.
     */
    static Path requireRewardModelFolder(String flag, Path dir) {
        if (Files.isRegularFile(dir.resolve("adapter_config.json")) && !Files.isRegularFile(dir.resolve("config.json"))) {
            return dir;
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalArgumentException(flag + " " + dir + " is not a reward model folder (it has neither config.json"
                    + " nor a LoRA reward model's adapter_config.json)");
        }
        return dir;
    }

    /** {@code dir}, given by {@code flag}, refused in one sentence unless it holds a config.json. */
    static Path requireModelFolder(String flag, Path dir) {
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new IllegalArgumentException(flag + " " + dir + " is not a model folder (it has no config.json)");
        }
        return dir;
    }
}
