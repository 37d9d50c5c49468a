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
 * The paper's English data: the teacher answers each Alpaca {@code {instruction, input}} given the
 * Alpaca prompt, and the answer becomes {@code output}. Records keep the input's fields in the input's
 * order (an existing {@code output} is replaced, a missing one goes last), so the export is the input
 * file with GPT-4's answers. An item is keyed by the record's {@code "id"} when it has one, else by
 * its instruction and input (what the prompt holds); its name in messages is the record's index.
 */
public final class AlpacaJob implements Job {
    private final double temperature;
    private final int maxTokens;

    public AlpacaJob(double temperature, int maxTokens) {
        this.temperature = temperature;
        this.maxTokens = maxTokens;
    }

    @Override
    public String name() {
        return "alpaca";
    }

    @Override
    public List<Item> read(Path input) throws IOException {
        List<JsonRecords.Located> records = JsonRecords.read(input);
        List<Item> items = new ArrayList<>(records.size());
        for (int i = 0; i < records.size(); i++) {
            JsonRecords.Located r = records.get(i);
            String instruction = JsonRecords.required(r, "instruction"), in = JsonRecords.text(r, "input");
            items.add(new Item(Integer.toString(i), r.where(), r.node(), Item.ownId(r.node(), "id"), requestContent(instruction, in)));
        }
        return items;
    }

    /** What the Alpaca prompt of a record holds (an absent input asks as an empty one). */
    static ObjectNode requestContent(String instruction, String input) {
        return JsonNodeFactory.instance.objectNode().put("instruction", instruction).put("input", input);
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

    /** The input record as it is now with the kept answer: its other fields may have changed, or be another record's. */
    @Override
    public ObjectNode resumed(Item item, ObjectNode record) {
        return record(item, record.path("output").asText());
    }

    private static ObjectNode record(Item item, String answer) {
        ObjectNode record = JsonNodeFactory.instance.objectNode();
        item.source().properties().forEach(e -> record.set(e.getKey(), e.getValue()));
        return record.put("output", answer); // replaces an existing output in place, else goes last
    }

    @Override
    public JsonNode export(List<ObjectNode> records) {
        ArrayNode out = JsonNodeFactory.instance.arrayNode();
        records.forEach(out::add);
        return out;
    }

    private ChatRequest request(Item item) {
        JsonNode r = item.request();
        return ChatRequest.of(AlpacaPrompt.of(r.get("instruction").asText(), r.get("input").asText()), temperature, maxTokens);
    }
}
