package org.gpt4llm.generate;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.gpt4llm.data.Template;
import org.gpt4llm.tokenizer.Tokenizer;

/** How a question becomes prompt ids: one of our {@link Template}s, or the model's own chat template. */
public interface PromptFormat {
    int[] encode(Tokenizer tokenizer, String instruction, String input);

    /**
     * {@code --template}: alpaca, plain or chat ({@code [BOS] + the template's prompt}, as in training),
     * or {@code model}: the Jinja {@code chat_template} of {@code modelDir/tokenizer_config.json}, given one
     * user message (the input after a blank line) and the generation prompt; its text holds the special
     * tokens it wants (BOS included), so nothing is added.
     */
    static PromptFormat parse(String name, Path modelDir) throws IOException {
        if (name.trim().toLowerCase(Locale.ROOT).equals("model")) {
            ChatTemplate chat = ChatTemplate.fromModel(modelDir);
            return (tok, instruction, input) -> {
                String content = input == null || input.isEmpty() ? instruction : instruction + "\n\n" + input;
                List<Map<String, Object>> messages = new ArrayList<>();
                messages.add(Map.of("role", "user", "content", content));
                return tok.encode(chat.render(messages, true));
            };
        }
        Template t;
        try {
            t = Template.parse(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--template " + name + " is not one of alpaca, plain, chat, model");
        }
        return (tok, instruction, input) -> tok.encodeWithBos(t.prompt(instruction, input));
    }
}
