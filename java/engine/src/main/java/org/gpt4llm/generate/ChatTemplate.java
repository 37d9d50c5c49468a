package org.gpt4llm.generate;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.generate.jinja.Template;

/**
 * A model's own chat template: the Jinja {@code chat_template} of its tokenizer_config.json, rendered as
 * transformers' {@code apply_chat_template} renders it, with {@code messages}, {@code tools} and {@code documents}
 * (none), {@code add_generation_prompt} and the special tokens {@code bos_token} and {@code eos_token}.
 */
public final class ChatTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Template template;
    private final String bos, eos;

    /** {@code bosToken}, {@code eosToken}: the model's special tokens, null for one it does not have. */
    public ChatTemplate(String source, String bosToken, String eosToken) {
        this.template = Template.compile(source, "chat template");
        this.bos = bosToken;
        this.eos = eosToken;
    }

    /** The template in {@code dir/tokenizer_config.json} (a string, or the "default" of a list of named ones). */
    public static ChatTemplate fromModel(Path dir) throws IOException {
        Path file = dir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(file)) {
            throw new IOException(dir + " has no tokenizer_config.json, so no chat template: use --template alpaca, plain or chat");
        }
        JsonNode config;
        try {
            config = JSON.readTree(TextFiles.read(file));
        } catch (JacksonException e) {
            throw new IOException(file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        JsonNode t = config.path("chat_template");
        if (t.isArray()) {
            JsonNode chosen = null;
            for (JsonNode named : t) if (named.path("name").asText().equals("default")) chosen = named.path("template");
            t = chosen == null ? t.path(0).path("template") : chosen;
        }
        if (!t.isTextual()) throw new IOException(file + " has no chat_template: use --template alpaca, plain or chat");
        try {
            return new ChatTemplate(t.asText(), token(config, "bos_token"), token(config, "eos_token"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /** A special token's text: a string or an AddedToken object; null when absent. */
    private static String token(JsonNode config, String key) {
        JsonNode v = config.path(key);
        if (v.isTextual()) return v.asText();
        return v.path("content").isTextual() ? v.path("content").asText() : null;
    }

    /**
     * The conversation ({@code role}, {@code content} maps) as the model's prompt text; a template that refuses it
     * (roles that do not alternate, say) throws {@link org.gpt4llm.generate.jinja.TemplateError} with its reason.
     */
    public String render(List<Map<String, Object>> messages, boolean addGenerationPrompt) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", messages);
        vars.put("tools", null);
        vars.put("documents", null);
        vars.put("add_generation_prompt", addGenerationPrompt);
        // as transformers passes the tokenizer's special tokens: only those the model defines
        if (bos != null) vars.put("bos_token", bos);
        if (eos != null) vars.put("eos_token", eos);
        return template.render(vars);
    }
}
