package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.train.TokenizerFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Folds a PEFT LoRA adapter into its base model and writes a plain HF checkpoint. */
@Command(name = "merge-lora", mixinStandardHelpOptions = true,
        description = "Fold a LoRA adapter into its base model (W += alpha/r * B A) and write an HF checkpoint.")
public final class MergeLoraCommand implements Callable<Integer> {
    @Mixin
    ModelFlag base = new ModelFlag();

    @Option(names = "--adapter", required = true, description = "PEFT adapter folder (adapter_config.json + adapter_model.safetensors)")
    Path adapter;

    @Mixin
    ModelOutFlags merged = new ModelOutFlags();

    @Override
    public Integer call() throws Exception {
        Path model = base.folder(), out = merged.modelFolder();
        if (out.toAbsolutePath().normalize().equals(model.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("--out " + out + " is the base model folder: write the merged model elsewhere");
        }
        try (CpuBackend backend = new CpuBackend();
             DecoderModel m = DecoderModels.load(backend, model)) {
            m.loadAdapter(adapter);
            LoraConfig c = m.loraConfig();
            m.mergeLora();
            m.save(out);
            TokenizerFiles.copy(model, out); // the tokenizer and decoding files, carried over unchanged
            System.out.printf(Locale.ROOT, "merged %s (rank %d, alpha %s, %s) into %s: wrote %s%n", adapter, c.rank(),
                    c.alpha(), String.join(",", c.targets()), model, out);
        }
        return 0;
    }
}
