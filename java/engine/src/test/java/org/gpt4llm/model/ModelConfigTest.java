package org.gpt4llm.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** config.json in and out: the keys transformers reads, HF's defaults for what a file leaves out, errors by file and field. */
class ModelConfigTest {
    @TempDir
    Path dir;

    private static final List<String> LLAMA_KEYS = List.of("architectures", "model_type", "hidden_size",
            "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
            "hidden_act", "rms_norm_eps", "rope_theta", "vocab_size", "tie_word_embeddings", "max_position_embeddings",
            "bos_token_id", "eos_token_id", "initializer_range", "attention_bias", "mlp_bias", "torch_dtype");
    private static final List<String> OPT_KEYS = List.of("architectures", "model_type", "hidden_size",
            "word_embed_proj_dim", "ffn_dim", "num_hidden_layers", "num_attention_heads", "activation_function",
            "do_layer_norm_before", "enable_bias", "layer_norm_elementwise_affine", "vocab_size", "tie_word_embeddings",
            "max_position_embeddings", "bos_token_id", "eos_token_id", "pad_token_id", "init_std", "dropout",
            "attention_dropout", "activation_dropout", "layerdrop", "torch_dtype");

    private Path file(String json) throws IOException {
        Path f = dir.resolve("config.json");
        Files.writeString(f, json);
        return f;
    }

    private static List<String> keys(JsonNode n) {
        List<String> keys = new ArrayList<>();
        n.fieldNames().forEachRemaining(keys::add);
        return keys;
    }

    @Test
    void llamaWritesEveryKeyAndReadsBackTheSame() throws IOException {
        LlamaConfig c = LlamaConfig.builder().hiddenSize(40).intermediateSize(70).numLayers(3).numHeads(4).numKvHeads(2)
                .rmsNormEps(1e-5f).ropeTheta(500000f).vocabSize(97).tieWordEmbeddings(true).maxPositionEmbeddings(128)
                .bosTokenId(0).eosTokenId(5).build();
        Path f = dir.resolve("config.json");
        c.write(f, DType.BF16);
        JsonNode n = ModelConfig.JSON.readTree(f.toFile());
        assertEquals(LLAMA_KEYS, keys(n));
        assertEquals("LlamaForCausalLM", n.get("architectures").get(0).asText());
        assertEquals("llama", n.get("model_type").asText());
        assertEquals(10, n.get("head_dim").asInt());
        assertEquals("silu", n.get("hidden_act").asText());
        assertEquals(1e-5f, n.get("rms_norm_eps").floatValue());
        assertEquals(2, n.get("num_key_value_heads").asInt());
        assertEquals("bfloat16", n.get("torch_dtype").asText());
        assertEquals(c, ModelConfig.read(f));
        assertEquals(c, c.toBuilder().build());
        c.write(f);
        assertEquals("float32", ModelConfig.JSON.readTree(f.toFile()).get("torch_dtype").asText());
    }

    @Test
    void optWritesEveryKeyAndReadsBackTheSame() throws IOException {
        OptConfig c = OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2).numHeads(3).vocabSize(53)
                .tieWordEmbeddings(false).maxPositionEmbeddings(32).bosTokenId(0).eosTokenId(2).padTokenId(1).build();
        Path f = dir.resolve("config.json");
        c.write(f);
        JsonNode n = ModelConfig.JSON.readTree(f.toFile());
        assertEquals(OPT_KEYS, keys(n));
        assertEquals("OPTForCausalLM", n.get("architectures").get(0).asText());
        assertEquals(24, n.get("word_embed_proj_dim").asInt());
        assertEquals(40, n.get("ffn_dim").asInt());
        assertEquals(c, ModelConfig.read(f));
        assertEquals(c, c.toBuilder().build());
    }

    /** The keys HF leaves out take transformers' defaults; nulls and unknown keys change nothing. */
    @Test
    void defaultsForWhatAFileLeavesOut() throws IOException {
        LlamaConfig l = assertInstanceOf(LlamaConfig.class, ModelConfig.read(file("""
                {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "vocab_size": 100, "rope_scaling": null, "bos_token_id": null, "quantization_config": {"bits": 4}}""")));
        assertEquals(LlamaConfig.builder().hiddenSize(64).intermediateSize(176).numLayers(2).numHeads(4).numKvHeads(4)
                .rmsNormEps(1e-6f).ropeTheta(10000f).vocabSize(100).tieWordEmbeddings(false).maxPositionEmbeddings(2048)
                .bosTokenId(1).eosTokenId(2).build(), l);
        // a reward model's config.json and newer files' list of end tokens
        l = LlamaConfig.read(file("""
                {"architectures": ["LlamaForSequenceClassification"], "model_type": "llama", "hidden_size": 64,
                 "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100,
                 "eos_token_id": [7, 9], "num_labels": 1}"""));
        assertEquals(7, l.eosTokenId());
        OptConfig o = assertInstanceOf(OptConfig.class, ModelConfig.read(file("""
                {"model_type": "opt", "hidden_size": 24, "ffn_dim": 40, "num_hidden_layers": 2,
                 "num_attention_heads": 3, "vocab_size": 53, "_name_or_path": "facebook/opt-125m"}""")));
        assertEquals(OptConfig.builder().hiddenSize(24).intermediateSize(40).numLayers(2).numHeads(3).vocabSize(53)
                .tieWordEmbeddings(true).maxPositionEmbeddings(2048).bosTokenId(2).eosTokenId(2).padTokenId(1).build(), o);
    }

    @Test
    void aBadFileIsOneSentenceNamingTheFileAndTheField() throws IOException {
        Path f = file("{\"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 9}");
        assertEquals(f + ": field intermediate_size is missing", rejected(f));
        f = file("{\"hidden_size\": \"wide\", \"intermediate_size\": 1, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                + " \"vocab_size\": 9}");
        assertEquals(f + ": field hidden_size is not an integer", rejected(f));
        f = file("{\"hidden_size\": 64, \"intermediate_size\": 1, \"num_hidden_layers\": 2, \"num_attention_heads\": 5,"
                + " \"vocab_size\": 9, \"tie_word_embeddings\": [true]}");
        assertEquals(f + ": field tie_word_embeddings is not true or false", rejected(f));
        f = file("{\"hidden_size\": 64, \"intermediate_size\": 1, \"num_hidden_layers\": 2, \"num_attention_heads\": 5,"
                + " \"vocab_size\": 9}");
        assertEquals(f + ": hidden_size 64 is not divisible by num_attention_heads 5", rejected(f));
        f = file("{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 768}");
        assertEquals(f + ": architecture GPT2LMHeadModel (model_type gpt2) is not a LLaMA model", rejected(f));
        f = file("{\"model_type\": \"opt\", \"hidden_size\": 1024, \"word_embed_proj_dim\": 512, \"ffn_dim\": 4096,"
                + " \"num_hidden_layers\": 24, \"num_attention_heads\": 16, \"vocab_size\": 50272}");
        assertEquals(f + ": OPT with word_embed_proj_dim 512 != hidden_size 1024 (projected embeddings) is not supported",
                rejected(f));
        f = file("[64, 176]");
        assertEquals(f + ": is not a JSON object", rejected(f));
        Path broken = file("{\"hidden_size\": 64,\n \"vocab_size\": }");
        IOException e = assertThrows(IOException.class, () -> ModelConfig.read(broken));
        assertTrue(e.getMessage().startsWith(broken + " is not valid JSON (line 2"), e.getMessage());
    }

    @Test
    void buildersNameWhatIsMissing() {
        var e = assertThrows(IllegalArgumentException.class, () -> LlamaConfig.builder().hiddenSize(64).build());
        assertEquals("field num_attention_heads is missing", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OptConfig.builder().hiddenSize(64).numHeads(4).build());
        assertEquals("field ffn_dim is missing", e.getMessage());
    }

    private static String rejected(Path f) {
        return assertThrows(IllegalArgumentException.class, () -> ModelConfig.read(f)).getMessage();
    }
}
