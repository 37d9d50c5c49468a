package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;

/**
 * The paper's Unnatural Instructions data: the teacher answers each instruction and input with the
 * Alpaca prompt; the record is Alpaca's {@code {instruction, input, output}} with the data set's own
 * answer kept as {@code reference_output} for evaluation (ROUGE against it, the paper's Fig. 6).
 *
 * <p>Input: flat records {@code {instruction, input, output}} (id: the index), or the original core
 * data layout {@code {instruction, instances:[{instruction_with_input, input, output}]}} where every
 * instance is an item (id: {@code "record.instance"}) with the record's instruction. An item is keyed
 * by its instruction and input (what the prompt holds); the data set's answer is not asked, so a
 * changed one is taken over into the record without asking again.
 */
public final class UnnaturalJob implements Job {
    private final double temperature;
    private final int maxTokens;

    public UnnaturalJob(double temperature, int maxTokens) {
        this.temperature = temperature;
        this.maxTokens = maxTokens;
    }

    @Override
    public String name() {
        return "unnatural";
    }

    @Override
    public List<Item> read(Path input) throws IOException {
        List<JsonRecords.Located> records = JsonRecords.read(input);
        List<Item> items = new ArrayList<>(records.size());
        for (int i = 0; i < records.size(); i++) {
            JsonRecords.Located r = records.get(i);
            String instruction = JsonRecords.required(r, "instruction");
            JsonNode instances = r.node().get("instances");
            if (instances == null) {
                items.add(item(Integer.toString(i), r.where(), instruction, JsonRecords.text(r, "input"), JsonRecords.required(r, "output")));
                continue;
            }
            if (!instances.isArray()) throw new IllegalArgumentException(r.where() + ": \"instances\" is not a list");
            for (int k = 0; k < instances.size(); k++) {
                JsonRecords.Located inst = JsonRecords.element(r, "instances", k);
                items.add(item(i + "." + k, inst.where(), instruction, JsonRecords.text(inst, "input"), JsonRecords.required(inst, "output")));
            }
        }
        return items;
    }

    private static Item item(String id, String where, String instruction, String input, String reference) {
        ObjectNode source = JsonNodeFactory.instance.objectNode().put("instruction", instruction).put("input", input).put("output", reference);
        return new Item(id, where, source, null, AlpacaJob.requestContent(instruction, input));
    }

    @Override
    public ObjectNode settings() {
        return JsonNodeFactory.instance.objectNode().put("job", name()).put("temperature", temperature).put("max_tokens", maxTokens);
    }

    @Override
    public List<String> prompts() {
        return List.of(AlpacaPrompt.WITH_INPUT, AlpacaPrompt.NO_INPUT);
    }

    @Override
    public List<ChatRequest> preview(Item item) {
        return List.of(request(item));
    }

    @Override
    public ObjectNode run(Item item, Teacher teacher) throws TeacherException {
        return record(item, teacher.chat(request(item)).content());
    }

    /** The kept answer with the data set's answer as the input has it now. */
    @Override
    public ObjectNode resumed(Item item, ObjectNode record) {
        return record(item, record.path("output").asText());
    }

    private static ObjectNode record(Item item, String answer) {
        ObjectNode s = item.source();
        return JsonNodeFactory.instance.objectNode().put("instruction", s.get("instruction").asText())
                .put("input", s.get("input").asText()).put("output", answer).put("reference_output", s.get("output").asText());
    }

    @Override
    public JsonNode export(List<ObjectNode> records) {
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        records.forEach(out::add);
        return out;
    }

    private ChatRequest request(Item item) {
        return ChatRequest.of(AlpacaPrompt.of(item.source().get("instruction").asText(), item.source().get("input").asText()),
                temperature, maxTokens);
    }
}
