package org.gpt4llm.serve;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.stream.IntStream;
import org.gpt4llm.serve.ChatPrompt.Message;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;

/** Chat messages become the chat template's prompt, with EOS after each answered turn, as in fine-tuning. */
class ChatPromptTest {
    @Test
    void conversationIsTheChatTemplateWithEosBetweenTurns() throws Exception {
        try (HfTokenizer tok = Tokenizers.load(SharedFiles.get("models/gpt2-tokenizer"))) {
            int[] ids = ChatPrompt.encode(tok, List.of(new Message("system", "Be brief."), new Message("user", "Name a color."),
                    new Message("assistant", "Red."), new Message("user", "Another"), new Message("user", "please?")));
            String first = "Be brief.\n\n### Human:\nName a color.\n\n### Assistant:\n";
            String second = "### Human:\nAnother\n\nplease?\n\n### Assistant:\n";
            int[] expected = IntStream.concat(IntStream.concat(IntStream.of(tok.bosId()), IntStream.of(tok.encode(first + "Red."))),
                    IntStream.concat(IntStream.of(tok.eosId()), IntStream.of(tok.encode(second)))).toArray();
            assertArrayEquals(expected, ids);
            assertEquals(first + "Red." + second, tok.decode(ids));
        }
    }

    @Test
    void conversationsTheTemplateCannotRenderAreRefused() {
        ApiException e = assertThrows(ApiException.class, () -> ChatPrompt.conversation(List.of(new Message("assistant", "Hi"))));
        assertEquals("messages[0].role", e.param);
        e = assertThrows(ApiException.class, () -> ChatPrompt.conversation(List.of(new Message("user", "Hi"), new Message("assistant", "Hello"))));
        assertEquals("the last message must be a user message", e.getMessage());
        e = assertThrows(ApiException.class, () -> ChatPrompt.conversation(List.of(new Message("user", "Hi"), new Message("system", "late"),
                new Message("user", "x"))));
        assertEquals("messages[1].role", e.param);
        assertEquals(400, assertThrows(ApiException.class, () -> ChatPrompt.conversation(List.of())).status);
    }
}
