package org.gpt4llm.serve;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.tokenizer.Tokenizer;

/**
 * A completion or chat completion request, checked field by field and turned into generator rows:
 * prompt p's sample j is row (and choice) {@code p * n + j}, sampled with seed {@code seed + j}.
 *
 * @param promptTokens prompt tokens counted once per prompt, as OpenAI's usage does
 */
record OpenAiRequest(boolean chat, boolean stream, boolean includeUsage, List<GenerationRequest> rows, int promptTokens) {
    /** OpenAI accepts up to 4 stop sequences. */
    private static final int MAX_STOP = 4;
    /** OpenAI's default max_tokens for /v1/completions. */
    private static final int COMPLETION_DEFAULT_MAX_TOKENS = 16;

    /** What the server allows, against which requests are checked. */
    record Limits(int maxPromptTokens, int maxTokens, int contextLength, int maxRows) {}

    static OpenAiRequest completion(JsonNode body, Tokenizer tokenizer, Limits limits) {
        rejectUnsupported(body, false);
        if (body.has("echo") && !body.get("echo").isNull()) {
            if (!body.get("echo").isBoolean()) throw typeError("echo", "a boolean");
            if (body.get("echo").booleanValue()) throw ApiException.unsupported("echo", "echo is not supported");
        }
        JsonNode prompt = body.get("prompt");
        if (prompt == null || prompt.isNull()) throw ApiException.invalid("prompt", "prompt is required");
        List<int[]> prompts = new ArrayList<>();
        if (prompt.isTextual()) {
            prompts.add(tokenizer.encodeWithBos(prompt.textValue()));
        } else if (prompt.isArray() && !prompt.isEmpty() && prompt.get(0).isIntegralNumber()) {
            prompts.add(tokenIds(prompt, "prompt", tokenizer));
        } else if (prompt.isArray() && !prompt.isEmpty()) {
            for (int i = 0; i < prompt.size(); i++) {
                JsonNode p = prompt.get(i);
                if (p.isTextual()) prompts.add(tokenizer.encodeWithBos(p.textValue()));
                else if (p.isArray()) prompts.add(tokenIds(p, "prompt[" + i + "]", tokenizer));
                else throw typeError("prompt[" + i + "]", "a string or an array of token ids");
            }
        } else {
            throw typeError("prompt", "a string, an array of strings or a non-empty array of token ids");
        }
        return build(body, false, prompts, limits, COMPLETION_DEFAULT_MAX_TOKENS);
    }

    static OpenAiRequest chat(JsonNode body, Tokenizer tokenizer, Limits limits) {
        rejectUnsupported(body, true);
        JsonNode messages = body.get("messages");
        if (messages == null || messages.isNull()) throw ApiException.invalid("messages", "messages is required");
        if (!messages.isArray()) throw typeError("messages", "an array of messages");
        List<ChatPrompt.Message> list = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) throw typeError(where, "an object with role and content");
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual()) throw typeError(where + ".role", "a string");
            list.add(new ChatPrompt.Message(role.textValue(), content(m.get("content"), where + ".content")));
        }
        int[] ids = ChatPrompt.encode(tokenizer, list);
        // no max_tokens: the rest of the context, as OpenAI's chat endpoint does
        return build(body, true, List.of(ids), limits, -1);
    }

    private static OpenAiRequest build(JsonNode body, boolean chat, List<int[]> prompts, Limits limits, int defaultMaxTokens) {
        String promptParam = chat ? "messages" : "prompt";
        int promptTokens = 0, longest = 0;
        for (int[] p : prompts) {
            if (p.length == 0) throw ApiException.invalidValue(promptParam, "the prompt is empty");
            if (p.length > limits.maxPromptTokens()) {
                throw ApiException.contextLength(promptParam, "the prompt has " + p.length + " tokens, more than the "
                        + limits.maxPromptTokens() + " this server accepts");
            }
            promptTokens += p.length;
            longest = Math.max(longest, p.length);
        }
        JsonNode maxTokensNode = body.has("max_completion_tokens") && !body.get("max_completion_tokens").isNull()
                ? body.get("max_completion_tokens") : body.get("max_tokens");
        String maxTokensParam = maxTokensNode == body.get("max_tokens") ? "max_tokens" : "max_completion_tokens";
        Integer asked = optInt(maxTokensNode, maxTokensParam);
        int maxTokens;
        if (asked == null) {
            int room = limits.contextLength() - longest;
            maxTokens = Math.min(limits.maxTokens(), defaultMaxTokens < 0 ? room : Math.min(defaultMaxTokens, room));
        } else {
            if (asked < 1) throw ApiException.invalidValue(maxTokensParam, maxTokensParam + " must be at least 1, got " + asked);
            if (asked > limits.maxTokens()) {
                throw ApiException.invalidValue(maxTokensParam, maxTokensParam + " is " + asked + ", more than the "
                        + limits.maxTokens() + " this server allows");
            }
            if (longest + asked > limits.contextLength()) {
                throw ApiException.contextLength(maxTokensParam, "this model's maximum context length is "
                        + limits.contextLength() + " tokens, but " + (longest + asked) + " were requested (" + longest
                        + " in the prompt, " + asked + " in the completion)");
            }
            maxTokens = asked;
        }
        float temperature = optFloat(body.get("temperature"), "temperature", 1f);
        if (!(temperature >= 0 && temperature <= 2)) throw ApiException.invalidValue("temperature", "temperature must be in [0, 2], got " + temperature);
        float topP = optFloat(body.get("top_p"), "top_p", 1f);
        if (!(topP > 0 && topP <= 1)) throw ApiException.invalidValue("top_p", "top_p must be in (0, 1], got " + topP);
        Integer topKNode = optInt(body.get("top_k"), "top_k");
        int topK = topKNode == null || topKNode == -1 ? 0 : topKNode;  // vLLM's extension; -1 means all, as there
        if (topK < 0) throw ApiException.invalidValue("top_k", "top_k must be -1, 0 or positive, got " + topK);
        float repetitionPenalty = optFloat(body.get("repetition_penalty"), "repetition_penalty", 1f);
        if (!(repetitionPenalty > 0) || !Float.isFinite(repetitionPenalty)) {
            throw ApiException.invalidValue("repetition_penalty", "repetition_penalty must be positive, got " + repetitionPenalty);
        }
        Integer nNode = optInt(body.get("n"), "n");
        int n = nNode == null ? 1 : nNode;
        if (n < 1) throw ApiException.invalidValue("n", "n must be at least 1, got " + n);
        long rows = (long) n * prompts.size();
        if (rows > limits.maxRows()) {
            throw ApiException.invalidValue("n", "n × prompts = " + rows + " completions, more than the " + limits.maxRows()
                    + " this server queues");
        }
        JsonNode seedNode = body.get("seed");
        long seed;
        if (seedNode == null || seedNode.isNull()) seed = ThreadLocalRandom.current().nextLong();
        else if (seedNode.isIntegralNumber() && seedNode.canConvertToLong()) seed = seedNode.longValue();
        else throw typeError("seed", "an integer");
        List<String> stop = stop(body.get("stop"));
        boolean stream = optBool(body.get("stream"), "stream", false);
        boolean includeUsage = false;
        JsonNode options = body.get("stream_options");
        if (options != null && !options.isNull()) {
            if (!options.isObject()) throw typeError("stream_options", "an object");
            if (!stream) throw ApiException.invalidValue("stream_options", "stream_options is only allowed when stream is true");
            includeUsage = optBool(options.get("include_usage"), "stream_options.include_usage", false);
        }
        List<GenerationRequest> out = new ArrayList<>();
        for (int[] p : prompts) {
            for (int j = 0; j < n; j++) {
                out.add(new GenerationRequest(p, new SamplingParams(maxTokens, temperature, topK, topP, repetitionPenalty,
                        stop, true, seed + j)));
            }
        }
        return new OpenAiRequest(chat, stream, includeUsage, out, promptTokens);
    }


    /** Fields we cannot honour are refused rather than silently ignored. */
    private static void rejectUnsupported(JsonNode body, boolean chat) {
        JsonNode logprobs = body.get("logprobs");
        if (logprobs != null && !logprobs.isNull() && !(logprobs.isBoolean() && !logprobs.booleanValue())) {
            throw ApiException.unsupported("logprobs", "logprobs are not supported");
        }
        if (chat && body.has("top_logprobs") && !body.get("top_logprobs").isNull()) {
            throw ApiException.unsupported("top_logprobs", "top_logprobs is not supported");
        }
        for (String penalty : new String[] {"presence_penalty", "frequency_penalty"}) {
            float v = optFloat(body.get(penalty), penalty, 0f);
            if (v != 0) throw ApiException.unsupported(penalty, penalty + " is not supported (use repetition_penalty)");
        }
        if (body.has("best_of") && !body.get("best_of").isNull()) {
            Integer bestOf = optInt(body.get("best_of"), "best_of");
            if (bestOf != 1) throw ApiException.unsupported("best_of", "best_of is not supported");
        }
        if (body.has("suffix") && !body.get("suffix").isNull()) throw ApiException.unsupported("suffix", "suffix is not supported");
        if (body.has("tools") && !body.get("tools").isNull()) throw ApiException.unsupported("tools", "tools are not supported");
    }

    private static int[] tokenIds(JsonNode array, String param, Tokenizer tokenizer) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = array.get(i);
            if (!t.isIntegralNumber() || !t.canConvertToInt()) throw typeError(param + "[" + i + "]", "a token id");
            ids[i] = t.intValue();
            if (ids[i] < 0 || ids[i] >= tokenizer.vocabSize()) {
                throw ApiException.invalidValue(param, "token id " + ids[i] + " is outside the vocabulary of "
                        + tokenizer.vocabSize());
            }
        }
        return ids;
    }

    /** A message's content: a string, or OpenAI's array of {type: text, text} parts. */
    private static String content(JsonNode node, String param) {
        if (node == null || node.isNull()) throw ApiException.invalid(param, param + " is required");
        if (node.isTextual()) return node.textValue();
        if (!node.isArray()) throw typeError(param, "a string or an array of text parts");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < node.size(); i++) {
            JsonNode part = node.get(i);
            if (!part.isObject() || !"text".equals(part.path("type").asText()) || !part.path("text").isTextual()) {
                throw ApiException.unsupported(param + "[" + i + "]", "only text parts ({\"type\": \"text\", \"text\": ...}) are supported");
            }
            sb.append(part.get("text").textValue());
        }
        return sb.toString();
    }

    private static List<String> stop(JsonNode node) {
        if (node == null || node.isNull()) return List.of();
        List<String> stop = new ArrayList<>();
        if (node.isTextual()) {
            stop.add(node.textValue());
        } else if (node.isArray()) {
            for (JsonNode s : node) {
                if (!s.isTextual()) throw typeError("stop", "a string or an array of strings");
                stop.add(s.textValue());
            }
        } else {
            throw typeError("stop", "a string or an array of strings");
        }
        if (stop.size() > MAX_STOP) throw ApiException.invalidValue("stop", "stop holds " + stop.size() + " sequences, at most " + MAX_STOP + " are allowed");
        for (String s : stop) if (s.isEmpty()) throw ApiException.invalidValue("stop", "a stop sequence must not be empty");
        return stop;
    }

    private static Integer optInt(JsonNode node, String param) {
        if (node == null || node.isNull()) return null;
        if (!node.isIntegralNumber() || !node.canConvertToInt()) throw typeError(param, "an integer");
        return node.intValue();
    }

    private static float optFloat(JsonNode node, String param, float fallback) {
        if (node == null || node.isNull()) return fallback;
        if (!node.isNumber()) throw typeError(param, "a number");
        return node.floatValue();
    }

    private static boolean optBool(JsonNode node, String param, boolean fallback) {
        if (node == null || node.isNull()) return fallback;
        if (!node.isBoolean()) throw typeError(param, "a boolean");
        return node.booleanValue();
    }

    private static ApiException typeError(String param, String expected) {
        return ApiException.invalid(param, param + " must be " + expected);
    }
}
