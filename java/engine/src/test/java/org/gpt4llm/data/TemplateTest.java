package org.gpt4llm.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.data.SftRecord.DataFormat;
import org.junit.jupiter.api.Test;

class TemplateTest {
    @Test
    void alpacaPromptsAreStanfordAlpacasStrings() {
        assertEquals("Below is an instruction that describes a task, paired with an input that provides further context. "
                + "Write a response that appropriately completes the request.\n\n"
                + "### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n### Response:",
                Template.ALPACA.prompt("Translate.", "Bonjour"));
        assertEquals("Below is an instruction that describes a task. "
                + "Write a response that appropriately completes the request.\n\n"
                + "### Instruction:\nSay hi.\n\n### Response:",
                Template.ALPACA.prompt("Say hi.", ""));
        // '%' in the text is data, not a format directive
        assertEquals(Template.ALPACA.prompt("100% sure?", "").indexOf("100% sure?") > 0, true);
    }

    @Test
    void plainAndChatTemplates() {
        assertEquals("Say hi.\n\n", Template.PLAIN.prompt("Say hi.", ""));
        assertEquals("Translate.\n\nBonjour\n\n", Template.PLAIN.prompt("Translate.", "Bonjour"));
        assertEquals("### Human:\nSay hi.\n\n### Assistant:\n", Template.CHAT.prompt("Say hi.", ""));
        assertEquals("### Human:\nTranslate.\n\nBonjour\n\n### Assistant:\n", Template.CHAT.prompt("Translate.", "Bonjour"));
    }

    @Test
    void systemPromptPrecedesOnlyTheFirstTurn() {
        SftRecord r = new SftRecord(new RecordRef(Path.of("c.json"), 0, 0), DataFormat.SHAREGPT, "Be brief.",
                List.of(new Turn("a", "", "b"), new Turn("c", "", "d")));
        assertEquals("Be brief.\n\n### Human:\na\n\n### Assistant:\n", Template.CHAT.prompt(r, 0));
        assertEquals("### Human:\nc\n\n### Assistant:\n", Template.CHAT.prompt(r, 1));
    }

    @Test
    void namesAndDefaults() {
        assertEquals(Template.CHAT, Template.parse("chat"));
        assertEquals(Template.ALPACA, Template.defaultFor(DataFormat.ALPACA));
        assertEquals(Template.CHAT, Template.defaultFor(DataFormat.SHAREGPT));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Template.parse("vicuna"));
        assertEquals("--template vicuna is not one of alpaca, plain, chat", e.getMessage());
    }
}
