package org.gpt4llm.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.files.TextFiles;

/** Opens the tokenizer of a model folder. */
public final class Tokenizers {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The library's own behaviour is switched off: we add special tokens ourselves and never truncate or pad. */
    private static final Map<String, String> OPTIONS = Map.of(
            "addSpecialTokens", "false", "truncation", "false", "padding", "false");

    /** The model types the HF tokenizers library knows. */
    private static final List<String> MODEL_TYPES = List.of("BPE", "Unigram", "WordLevel", "WordPiece");

    static {
        // the native library ships inside DJL's jar; never let DJL fetch one from the network instead
        if (System.getProperty("ai.djl.offline") == null) System.setProperty("ai.djl.offline", "true");
        // DJL logs through SLF4J, which warns on stderr that no logging backend is bound; we log nothing through it
        if (System.getProperty("slf4j.internal.verbosity") == null) System.setProperty("slf4j.internal.verbosity", "ERROR");
    }

    private Tokenizers() {
    }

    /**
     * The tokenizer of model folder {@code dir}, checked against the model's vocabulary of
     * {@code modelVocab} tokens (a token the embedding table lacks would fail mid-run).
     */
    public static HfTokenizer load(Path dir, int modelVocab) throws IOException {
        HfTokenizer tok = load(dir);
        if (tok.vocabSize() > modelVocab) {
            tok.close();
            throw new IllegalArgumentException("--model " + dir + ": the tokenizer has " + tok.vocabSize()
                    + " tokens but the model only " + modelVocab);
        }
        return tok;
    }

    /**
     * The tokenizer in {@code dir}: its {@code tokenizer.json}, or GPT-2's {@code vocab.json} +
     * {@code merges.txt} (turned into the equivalent {@code tokenizer.json}, as transformers'
     * slow-to-fast conversion does). BOS/EOS/pad come from {@code tokenizer_config.json}, else from
     * the conventional names ({@code <s>}, {@code </s>}, {@code <pad>}, GPT-2's {@code <|endoftext|>}).
     */
    public static HfTokenizer load(Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        JsonNode spec;
        if (Files.isRegularFile(file)) {
            spec = tokenizerJson(file);
        } else if (Files.isRegularFile(dir.resolve("vocab.json")) && Files.isRegularFile(dir.resolve("merges.txt"))) {
            spec = gpt2Spec(dir);
        } else {
            String why = Files.isDirectory(dir) ? "the folder has neither it nor GPT-2's vocab.json + merges.txt"
                    : "the folder does not exist";
            throw new IOException(dir + " has no tokenizer.json: " + why);
        }
        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(JSON.writeValueAsBytes(spec)), OPTIONS);
        } catch (RuntimeException e) {
            // GPT-2's two files are turned into a tokenizer.json: the library's complaint is about them
            IOException refused = notLoadable(Files.isRegularFile(file) ? file : dir.resolve("vocab.json"), libraryReason(e));
            refused.initCause(e);
            throw refused;
        } catch (UnsatisfiedLinkError e) {
            throw new IOException("the HF tokenizers library (DJL's native binding) cannot be loaded here, so " + file
                    + " cannot be read: " + e.getMessage(), e);
        }
        try {
            Map<String, Integer> ids = tokenIds(spec);
            int vocabSize = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
            JsonNode config = Files.isRegularFile(dir.resolve("tokenizer_config.json"))
                    ? readJson(dir.resolve("tokenizer_config.json")) : JSON.createObjectNode();
            int bos = special(dir, config, "bos_token", ids, "<s>", "<|endoftext|>");
            int eos = special(dir, config, "eos_token", ids, "</s>", "<|endoftext|>");
            int pad = special(dir, config, "pad_token", ids, "<pad>");
            if (pad < 0) pad = eos >= 0 ? eos : 0;
            return new HfTokenizer(hf, vocabSize, bos, eos, pad);
        } catch (IOException | RuntimeException e) {
            hf.close();
            throw e;
        }
    }

    /**
     * {@code file} read as a tokenizer.json: JSON with a "model" object of a type the library knows (the
     * library's own check follows when it loads the file), else an error that says it is no tokenizer.
     */
    private static JsonNode tokenizerJson(Path file) throws IOException {
        JsonNode spec;
        try {
            spec = JSON.readTree(TextFiles.read(file));
        } catch (JacksonException e) {
            JsonLocation at = e.getLocation();
            throw notLoadable(file, "it is not JSON (" + (at == null || at.getLineNr() < 1 ? ""
                    : "line " + at.getLineNr() + ", column " + at.getColumnNr() + ": ") + e.getOriginalMessage() + ")");
        }
        if (spec == null || spec.isMissingNode()) throw notLoadable(file, "it is empty");
        if (!spec.isObject()) throw notLoadable(file, "it is not a JSON object");
        JsonNode model = spec.get("model");
        if (model == null || !model.isObject()) throw notLoadable(file, "it has no \"model\" section");
        JsonNode type = model.get("type");
        if (type != null && !MODEL_TYPES.contains(type.asText())) {
            throw notLoadable(file, "its model type " + type + " is not one of " + String.join(", ", MODEL_TYPES));
        }
        return spec;
    }

    private static IOException notLoadable(Path file, String reason) {
        return new IOException(file + " is not a tokenizer the HF tokenizers library can load: " + reason);
    }

    /**
     * What the library said, without the line and column it adds: they count in the copy it was given (the
     * file as parsed and written again), not in the file itself.
     */
    private static String libraryReason(Throwable e) {
        String m = String.valueOf(e.getMessage()).strip();
        int nl = m.indexOf('\n');
        if (nl >= 0) m = m.substring(0, nl).strip();
        return m.replaceFirst(" at line \\d+ column \\d+$", "");
    }

    private static JsonNode readJson(Path file) throws IOException {
        try {
            return JSON.readTree(TextFiles.read(file));
        } catch (JacksonException e) {
            throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Every token string with its id: the model's vocabulary and the added tokens. */
    private static Map<String, Integer> tokenIds(JsonNode spec) {
        Map<String, Integer> ids = new HashMap<>();
        spec.path("model").path("vocab").properties().forEach(e -> ids.put(e.getKey(), e.getValue().asInt()));
        for (JsonNode t : spec.path("added_tokens")) ids.put(t.path("content").asText(), t.path("id").asInt());
        return ids;
    }

    /** The id of a special token named in the config (a string or an AddedToken object), else of the first conventional name present. */
    private static int special(Path dir, JsonNode config, String key, Map<String, Integer> ids, String... conventional)
            throws IOException {
        JsonNode v = config.path(key);
        String name = v.isTextual() ? v.asText() : v.path("content").isTextual() ? v.path("content").asText() : null;
        if (name != null) {
            Integer id = ids.get(name);
            if (id == null) throw new IOException(dir.resolve("tokenizer_config.json") + " names " + key + " \"" + name + "\", which is not in the vocabulary");
            return id;
        }
        for (String c : conventional) {
            if (ids.containsKey(c)) return ids.get(c);
        }
        return -1;
    }

    /** GPT-2's vocab.json + merges.txt as the tokenizer.json the HF library would build from them. */
    private static JsonNode gpt2Spec(Path dir) throws IOException {
        JsonNode vocab = readJson(dir.resolve("vocab.json"));
        if (!vocab.isObject()) throw new IOException(dir.resolve("vocab.json") + " is not a JSON object of token → id");
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        if (vocab.has("<|endoftext|>")) {
            added.addObject().put("id", vocab.get("<|endoftext|>").asInt()).put("content", "<|endoftext|>")
                    .put("single_word", false).put("lstrip", false).put("rstrip", false)
                    .put("normalized", true).put("special", true);
        }
        root.putNull("normalizer");
        root.set("pre_tokenizer", ByteLevel.json(true));
        root.set("post_processor", ByteLevel.json(false));
        root.set("decoder", ByteLevel.json(true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.put("continuing_subword_prefix", "");
        model.put("end_of_word_suffix", "");
        model.put("fuse_unk", false);
        model.set("vocab", vocab);
        ArrayNode merges = model.putArray("merges");
        List<String> lines = TextFiles.lines(dir.resolve("merges.txt"));
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) continue;
            if (line.split(" ").length != 2) {
                throw new IOException(dir.resolve("merges.txt") + " line " + (i + 1) + " is not two tokens separated by a space");
            }
            merges.add(line);
        }
        return root;
    }

}
