package org.gpt4llm.cli;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.model.Initializer;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Writes a randomly initialised HF checkpoint (config.json + safetensors), for training from scratch. */
@Command(name = "init-model", mixinStandardHelpOptions = true,
        description = "Write a random-initialised HF checkpoint (normal(0, 0.02) matrices, unit norms).")
public final class InitModelCommand implements Callable<Integer> {
    @Option(names = "--arch", defaultValue = "llama", description = "architecture: llama or opt")
    String arch;

    @Option(names = "--preset", defaultValue = "tiny", description = "llama: tiny, demo, small or 7b; opt: tiny, small, 125m or 1.3b")
    String preset;

    @Option(names = "--vocab", description = "vocabulary size (default: the --tokenizer's, else 32000)")
    Integer vocab;

    @Option(names = "--tokenizer", description = "a folder with tokenizer.json: copied into --out, and its size is the vocabulary")
    Path tokenizer;

    @Mixin
    ModelOutFlags written = new ModelOutFlags();

    @Option(names = "--seed", defaultValue = "0")
    long seed;

    @Option(names = "--dtype", defaultValue = "f32", description = "storage dtype: f32, bf16 or f16 (default: ${DEFAULT-VALUE})")
    String dtype;

    @Option(names = "--tie-embeddings", description = "share the embedding matrix with the output head (OPT always does)")
    boolean tie;

    @Override
    public Integer call() throws Exception {
        String family = arch.toLowerCase(Locale.ROOT);
        if (!family.equals("llama") && !family.equals("opt")) {
            throw new IllegalArgumentException("--arch " + arch + " is not llama or opt");
        }
        int tokenizerVocab = -1, bos = -1, eos = -1, pad = -1;
        if (tokenizer != null) {
            try (HfTokenizer tok = Tokenizers.load(tokenizer)) {
                tokenizerVocab = tok.vocabSize();
                bos = tok.bosId();
                eos = tok.eosId();
                pad = tok.padId();
            }
        }
        int vocab = this.vocab != null ? this.vocab : tokenizerVocab > 0 ? tokenizerVocab : 32000;
        if (vocab < 1) throw new IllegalArgumentException("--vocab must be positive, got " + vocab);
        if (vocab < tokenizerVocab) {
            throw new IllegalArgumentException("--vocab " + vocab + " is smaller than the " + tokenizerVocab + " tokens of --tokenizer " + tokenizer);
        }
        DType storage = WeightTypeFlag.parse("--dtype", dtype);
        Path out = written.modelFolder();
        ModelConfig cfg = family.equals("opt") ? opt(vocab, bos, eos, pad) : llama(vocab, bos, eos);
        try (Arena arena = Arena.ofShared()) {
            // straight into the storage dtype: a 7b model in bf16 never needs its fp32 copy in memory
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            long bytes = DecoderModels.parameterShapes(cfg).values().stream().mapToLong(Tensor::numel).sum() * storage.bytes();
            // the kernel may grant more than it can back and kill the process later: refuse up front
            long available = availableMemory();
            String tooBig = String.format(Locale.ROOT, "--preset %s in %s needs %.1f GiB of memory and %.1f GiB are"
                    + " available%s", preset, dtype, bytes / (double) (1L << 30), available / (double) (1L << 30),
                    storage == DType.F32 ? "; try --dtype bf16" : "");
            if (available > 0 && bytes > available) throw new IllegalArgumentException(tooBig);
            try {
                DecoderModels.parameterShapes(cfg).forEach((name, shape) -> tensors.put(name, Tensor.allocate(arena, storage, shape)));
            } catch (OutOfMemoryError e) {
                throw new IllegalArgumentException(tooBig);
            }
            Initializer.hfNormal(tensors, seed);
            Files.createDirectories(out);
            Checkpoint.save(out, tensors, DecoderModel.MAX_SHARD_BYTES);
        }
        if (tokenizer != null) {
            for (String f : new String[] {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
                if (Files.isRegularFile(tokenizer.resolve(f))) AtomicFiles.copy(tokenizer.resolve(f), out.resolve(f));
            }
        }
        cfg.write(out.resolve("config.json"), storage);
        long count = DecoderModels.parameterShapes(cfg).values().stream().mapToLong(Tensor::numel).sum();
        System.out.printf(Locale.ROOT, "wrote %s: %s %s, %,d parameters (%s), vocab %d, seed %d%n",
                out, cfg.modelType(), preset, count, storage, vocab, seed);
        return 0;
    }

    /** The LLaMA preset with this vocabulary, head tying and the tokenizer's special ids (where it has them). */
    private LlamaConfig llama(int vocab, int bos, int eos) {
        LlamaConfig.Builder b = LlamaConfig.preset(preset, vocab).toBuilder().tieWordEmbeddings(tie);
        if (bos >= 0) b.bosTokenId(bos);
        if (eos >= 0) b.eosTokenId(eos);
        return b.build();
    }

    /** The OPT preset (its head tied, as in every OPT checkpoint) with this vocabulary and the tokenizer's special ids. */
    private OptConfig opt(int vocab, int bos, int eos, int pad) {
        OptConfig.Builder b = OptConfig.preset(preset, vocab).toBuilder();
        if (bos >= 0) b.bosTokenId(bos);
        if (eos >= 0) b.eosTokenId(eos);
        if (pad >= 0) b.padTokenId(pad);
        return b.build();
    }

    /** MemAvailable of /proc/meminfo in bytes, or -1 where there is no such file. */
    private static long availableMemory() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (java.io.IOException | NumberFormatException e) {
            // not Linux, or an unexpected format: rely on the allocation failing
        }
        return -1;
    }
}
