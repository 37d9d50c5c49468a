package org.gpt4llm.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.gpt4llm.data.Template;
import org.gpt4llm.generate.jinja.TemplateError;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real chat templates from HF tokenizer_config.json files (in src/test/resources/chat-templates, where README.md
 * names their sources), rendered to the prompt formats their models document and to the text Python's Jinja2
 * renders with apply_chat_template's settings.
 */
class ChatTemplateTest {
    static final List<Map<String, Object>> WITH_SYSTEM = List.of(
            Map.of("role", "system", "content", "Be brief."),
            Map.of("role", "user", "content", " Hi there "),
            Map.of("role", "assistant", "content", "Hello!"),
            Map.of("role", "user", "content", "Name a color."));
    static final List<Map<String, Object>> ONE_QUESTION = List.of(Map.of("role", "user", "content", "Name a color."));

    static String source(String name) throws IOException {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/chat-templates/" + name + ".jinja")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static ChatTemplate template(String name) throws IOException {
        return new ChatTemplate(source(name), "<s>", "</s>");
    }

    @Test
    void llama2Chat() throws Exception {
        ChatTemplate t = template("llama-2-chat");
        assertEquals("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi there [/INST] Hello! </s><s>[INST] Name a color. [/INST]",
                t.render(WITH_SYSTEM, true));
        assertEquals("<s>[INST] Name a color. [/INST]", t.render(ONE_QUESTION, true));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(List.of(
                Map.of("role", "user", "content", "a"), Map.of("role", "user", "content", "b")), true));
        assertTrue(e.getMessage().contains("Conversation roles must alternate user/assistant/user/assistant/..."), e.getMessage());
    }

    @Test
    void chatMl() throws Exception {
        ChatTemplate t = template("chatml-qwen2");
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n Hi there <|im_end|>\n<|im_start|>assistant\n"
                + "Hello!<|im_end|>\n<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n", t.render(WITH_SYSTEM, true));
        assertEquals("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nName a color.<|im_end|>\n",
                t.render(ONE_QUESTION, false), "no generation prompt when not asked");
    }

    @Test
    void zephyrWithTrimAndLstripBlocks() throws Exception {
        ChatTemplate t = template("zephyr");
        assertEquals("<|system|>\nBe brief.</s>\n<|user|>\n Hi there </s>\n<|assistant|>\nHello!</s>\n<|user|>\nName a color.</s>\n"
                + "<|assistant|>\n", t.render(WITH_SYSTEM, true));
        assertEquals("<|user|>\nName a color.</s>\n<|assistant|>\n", t.render(ONE_QUESTION, true));
    }

    @Test
    void vicunaWithFiltersAndWhitespaceControl() throws Exception {
        ChatTemplate t = template("vicuna");
        assertEquals("Be brief.\n\nUSER: Hi there\nASSISTANT: Hello!</s>\nUSER: Name a color.\nASSISTANT:", t.render(WITH_SYSTEM, true));
        assertEquals("A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful,"
                + " detailed, and polite answers to the user's questions.\n\nUSER: Name a color.\nASSISTANT:", t.render(ONE_QUESTION, true));
    }

    /**
     * Every golden case of a real template (src/test/resources/chat-templates/goldens, rendered by Jinja2 as
     * apply_chat_template renders) whose variables are the ones ChatTemplate passes, rendered through ChatTemplate.
     */
    @Test
    void rendersTheGoldenConversationsAsApplyChatTemplate() throws Exception {
        ObjectMapper json = new ObjectMapper();
        Path goldens = Path.of(ChatTemplateTest.class.getResource("/chat-templates/goldens").toURI());
        int checked = 0;
        try (var files = java.nio.file.Files.list(goldens)) {
            for (Path file : files.sorted().toList()) {
                JsonNode golden = json.readTree(file.toFile());
                if (!golden.has("template")) continue;
                String name = JsonChecks.text(golden, "template");
                for (JsonNode c : JsonChecks.nonEmptyArray(golden, "cases")) {
                    JsonNode vars = JsonChecks.required(c, "variables");
                    java.util.Set<String> names = new java.util.HashSet<>();
                    vars.fieldNames().forEachRemaining(names::add);
                    names.removeAll(List.of("bos_token", "eos_token"));
                    if (!names.equals(java.util.Set.of("messages", "tools", "documents", "add_generation_prompt"))
                            || !vars.get("tools").isNull() || !vars.get("documents").isNull()) {
                        continue; // a case with tools or other variables: JinjaGoldenTest renders it
                    }
                    ChatTemplate t = new ChatTemplate(source(name.replace(".jinja", "")), textOrNull(vars, "bos_token"),
                            textOrNull(vars, "eos_token"));
                    List<Map<String, Object>> messages = json.convertValue(vars.get("messages"), new TypeReference<>() {});
                    boolean generationPrompt = vars.get("add_generation_prompt").asBoolean();
                    String where = name + " " + JsonChecks.text(c, "name");
                    if (c.has("expected")) {
                        assertEquals(JsonChecks.text(c, "expected"), t.render(messages, generationPrompt), where);
                    } else {
                        TemplateError e = assertThrows(TemplateError.class, () -> t.render(messages, generationPrompt), where);
                        assertTrue(e.getMessage().startsWith("the chat template refused the conversation: ")
                                || e.getMessage().startsWith("chat template"), e.getMessage());
                        if (JsonChecks.required(c, "raised_by_template").asBoolean()) assertEquals(JsonChecks.text(c, "error"), e.detail());
                    }
                    checked++;
                }
            }
        }
        assertTrue(checked >= 70, checked + " cases checked");
    }

    private static String textOrNull(JsonNode vars, String field) {
        return vars.has(field) ? vars.get(field).asText() : null;
    }

    @Test
    void readsTheTemplateAndSpecialTokensOfAModelFolder(@TempDir Path dir) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = json.createObjectNode();
        config.put("chat_template", source("llama-2-chat"));
        config.putObject("bos_token").put("content", "<s>").put("special", true);
        config.put("eos_token", "</s>");
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        assertEquals("<s>[INST] Name a color. [/INST]", ChatTemplate.fromModel(dir).render(ONE_QUESTION, true));
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), json.createObjectNode().put("eos_token", "</s>"));
        IOException e = assertThrows(IOException.class, () -> ChatTemplate.fromModel(dir));
        assertTrue(e.getMessage().contains("has no chat_template"), e.getMessage());
    }

    @Test
    void promptFormatsEncodeWithTheModelsTokenizer(@TempDir Path dir) throws Exception {
        Path llama = SharedFiles.get("models/llama2-tokenizer");
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(llama.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", source("llama-2-chat"));
        json.writeValue(dir.resolve("tokenizer_config.json").toFile(), config);
        try (HfTokenizer tok = Tokenizers.load(llama)) {
            int[] chat = PromptFormat.parse("model", dir).encode(tok, "Name a color.", "Red or blue?");
            assertEquals(tok.bosId(), chat[0], "<s> in the template's text is the BOS token");
            assertEquals(1, java.util.Arrays.stream(chat).filter(t -> t == tok.bosId()).count());
            assertEquals("[INST] Name a color.\n\nRed or blue? [/INST]", tok.decode(chat));
            int[] alpaca = PromptFormat.parse("alpaca", dir).encode(tok, "Name a color.", "");
            assertEquals(tok.bosId(), alpaca[0]);
            assertEquals(Template.ALPACA.prompt("Name a color.", ""), tok.decode(alpaca));
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptFormat.parse("jinja", dir));
        assertEquals("--template jinja is not one of alpaca, plain, chat, model", e.getMessage());
    }
}
