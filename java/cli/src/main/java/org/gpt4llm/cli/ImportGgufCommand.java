package org.gpt4llm.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.gpt4llm.gguf.GgufLlama;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** Converts a llama.cpp GGUF LLaMA model into an HF folder the rest of the pipeline reads. */
@Command(name = "import-gguf", mixinStandardHelpOptions = true,
        description = "Convert a llama.cpp GGUF LLaMA model (F32, F16 or BF16 tensors, SentencePiece vocabulary) into an HF"
                + " folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json.")
public final class ImportGgufCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "the .gguf file")
    Path file;

    @Mixin
    ModelOutFlags converted = new ModelOutFlags();

    @Override
    public Integer call() throws Exception {
        Path out = converted.modelFolder();
        LlamaConfig c = GgufLlama.convert(file, out);
        long params = DecoderModels.parameterShapes(c).values().stream().mapToLong(Tensor::numel).sum();
        System.out.printf(Locale.ROOT, "wrote %s: llama, %,d parameters, %d layers, hidden %d, %d heads (%d kv),"
                + " vocab %d%s%n", out, params, c.numLayers(), c.hiddenSize(), c.numHeads(), c.numKvHeads(),
                c.vocabSize(), c.tieWordEmbeddings() ? ", tied embeddings" : "");
        return 0;
    }
}
