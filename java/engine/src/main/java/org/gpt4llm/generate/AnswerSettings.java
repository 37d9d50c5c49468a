package org.gpt4llm.generate;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.datagen.run.RunSettings;

/**
 * What besides the question decides an answer of {@code gpt4llm generate}: the model (its id, folder
 * and adapter), the prompt template, every sampling flag and the run's seed, and for best-of-n the
 * number of samples and the reward model that ranks them. Every answer record carries them in
 * {@code metadata.settings}.
 */
public final class AnswerSettings {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The setting that is also a record's model_id. */
    static final String MODEL_ID = "model_id";
    /** What an answer record written before settings were recorded still says of them (model_id at the top, the rest in metadata). */
    private static final List<String> LEGACY_METADATA = List.of("template", "temperature", "top_p", "top_k", "repetition_penalty",
            "max_new_tokens", "stop");

    private AnswerSettings() {}

    /**
     * The settings of a run answering with {@code modelId} (the records' model_id) from the model
     * folder {@code model}, with {@code adapter} (null for none), prompts built by {@code template},
     * sampled as {@code sampling} says (its own seed is a question's, not the run's) from {@code seed}.
     */
    public static RunSettings of(String modelId, Path model, Path adapter, String template, SamplingParams sampling, long seed) {
        ObjectNode v = JSON.createObjectNode();
        v.put(MODEL_ID, modelId);
        v.put("model", identity(model));
        v.put("adapter", adapter == null ? null : identity(adapter));
        v.put("template", template);
        v.put("temperature", sampling.temperature());
        v.put("top_p", sampling.topP());
        v.put("top_k", sampling.topK());
        v.put("repetition_penalty", sampling.repetitionPenalty());
        v.put("max_new_tokens", sampling.maxNewTokens());
        ArrayNode stop = v.putArray("stop");
        sampling.stop().forEach(stop::add);
        v.put("seed", seed);
        v.put("n", 1);
        v.putNull("rerank");
        return asRead(v);
    }

    /** {@code settings} with {@code n} samples per question ranked by the reward model {@code rewardModel}, which reads them as {@code template}, cut to {@code maxLen}. */
    public static RunSettings reranked(RunSettings settings, int n, Path rewardModel, String template, int maxLen) {
        ObjectNode v = settings.values().deepCopy();
        v.put("n", n);
        v.put("rerank", identity(rewardModel));
        v.put("rm_template", template);
        v.put("rm_max_len", maxLen);
        return asRead(v);
    }

    /**
     * What a record written before settings were recorded says of them: its model_id and the sampling
     * fields of its metadata where it has them, the rest taken as {@code current}'s.
     */
    static JsonNode legacyView(RunSettings current, JsonNode record) {
        ObjectNode v = current.values().deepCopy();
        if (record.path(MODEL_ID).isTextual()) v.set(MODEL_ID, record.get(MODEL_ID));
        JsonNode meta = record.path("metadata");
        for (String name : LEGACY_METADATA) if (meta.has(name)) v.set(name, meta.get(name));
        return v;
    }

    /** A folder named by its real path, so two ways of writing it are one model. */
    private static String identity(Path folder) {
        try {
            return folder.toRealPath().toString();
        } catch (IOException e) {
            return folder.toAbsolutePath().normalize().toString();
        }
    }

    /** The values as a line read back gives them (a float as the double it prints as, a long as an int), so equal settings compare equal. */
    private static RunSettings asRead(ObjectNode v) {
        try {
            return new RunSettings((ObjectNode) JSON.readTree(JSON.writeValueAsString(v)));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
