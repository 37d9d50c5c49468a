package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.datagen.job.JsonRecords.Located;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Message;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;

/**
 * The paper's Chinese data ({@code alpaca_gpt4_data_zh}): each Alpaca record's instruction and input
 * translated to Chinese by one model (one request answering a JSON object {@code {instruction,
 * input}}), then the Chinese instruction answered in Chinese by the teacher with the Alpaca prompt →
 * {@code {instruction, input, output}}, all Chinese. The translator is a Teacher of its own (another
 * model, as the paper used ChatGPT) or, by default, the teacher the runner passes. An item is keyed by
 * the record's {@code "id"} when it has one, else by its instruction and input.
 */
public final class TranslateJob implements Job {
    static final String TRANSLATE = "Translate the instruction and the input of the task below into Simplified Chinese."
            + " Translate only: do not answer or carry out the task. Keep code, numbers, names and formatting as they are"
            + " where a translation would change their meaning; an empty input stays empty.\n"
            + "Reply with nothing but one JSON object with the string fields \"instruction\" and \"input\".\n\n";
    static final String ANSWER_IN_CHINESE = "请用简体中文回答。";
    static final double TRANSLATE_TEMPERATURE = 0;
    static final double ANSWER_TEMPERATURE = 0.7;
    static final int TRANSLATE_MAX_TOKENS = 1024;
    static final int ANSWER_MAX_TOKENS = 2048;

    private final Teacher translator;
    private final String translatorModel;

    /** Translates with the same teacher that answers. */
    public TranslateJob() {
        this(null, null);
    }

    /** {@code translator}: the model that translates, named {@code translatorModel}; null for the teacher that answers. */
    public TranslateJob(Teacher translator, String translatorModel) {
        if ((translator == null) != (translatorModel == null)) throw new IllegalArgumentException("a translator needs its model's name");
        this.translator = translator;
        this.translatorModel = translatorModel;
    }

    @Override
    public String name() {
        return "translate";
    }

    @Override
    public List<Item> read(Path input) throws IOException {
        List<Item> items = new ArrayList<>();
        List<Located> records = JsonRecords.read(input);
        for (int i = 0; i < records.size(); i++) {
            Located r = records.get(i);
            if (!r.node().path("instruction").isTextual() || r.node().get("instruction").asText().isBlank()) {
                throw new IllegalArgumentException(r.where() + " has no instruction");
            }
            String in = JsonRecords.text(r, "input"); // a non-text input is named here, not mid-run
            items.add(new Item(String.valueOf(i), r.where(), r.node(), Item.ownId(r.node(), "id"),
                    AlpacaJob.requestContent(r.node().get("instruction").asText(), in)));
        }
        if (items.isEmpty()) throw new IllegalArgumentException(input + " holds no records");
        return items;
    }

    /** The translator is named by its model ("translator": null when the teacher translates). */
    @Override
    public ObjectNode settings() {
        ObjectNode s = JsonRecords.JSON.createObjectNode().put("job", name()).put("translator", translatorModel);
        return s.put("translate_temperature", TRANSLATE_TEMPERATURE).put("translate_max_tokens", TRANSLATE_MAX_TOKENS)
                .put("temperature", ANSWER_TEMPERATURE).put("max_tokens", ANSWER_MAX_TOKENS);
    }

    @Override
    public List<String> prompts() {
        return List.of(TRANSLATE, ANSWER_IN_CHINESE, AlpacaPrompt.WITH_INPUT, AlpacaPrompt.NO_INPUT);
    }

    static ChatRequest translationRequest(String instruction, String input) {
        ObjectNode task = JsonRecords.JSON.createObjectNode().put("instruction", instruction).put("input", input);
        return ChatRequest.of(TRANSLATE + task.toPrettyString(), TRANSLATE_TEMPERATURE, TRANSLATE_MAX_TOKENS);
    }

    static ChatRequest answerRequest(String instruction, String input) {
        return new ChatRequest(List.of(Message.system(ANSWER_IN_CHINESE), Message.user(AlpacaPrompt.of(instruction, input))),
                ANSWER_TEMPERATURE, ANSWER_MAX_TOKENS);
    }

    /** The translation request only: the answer's depends on the translation. */
    @Override
    public List<ChatRequest> preview(Item item) {
        return List.of(translationRequest(item.request().get("instruction").asText(), item.request().get("input").asText()));
    }

    @Override
    public ObjectNode run(Item item, Teacher teacher) throws TeacherException {
        String instruction = item.request().get("instruction").asText(), input = item.request().get("input").asText();
        ChatResponse translated = (translator == null ? teacher : translator).chat(translationRequest(instruction, input));
        String[] zh;
        try {
            if ("length".equals(translated.finishReason())) throw new IllegalArgumentException("the translation was cut off at the token limit");
            zh = parseTranslation(translated.content(), !input.isBlank());
        } catch (IllegalArgumentException e) {
            throw new TeacherException("record " + item.id() + ": " + e.getMessage(), 200, e);
        }
        ChatResponse answer = teacher.chat(answerRequest(zh[0], zh[1]));
        if ("length".equals(answer.finishReason()) || answer.content().isBlank()) {
            throw new TeacherException("record " + item.id() + ": the Chinese answer was "
                    + (answer.content().isBlank() ? "empty" : "cut off at the token limit"), 200, null);
        }
        ObjectNode record = JsonRecords.JSON.createObjectNode();
        record.put("instruction", zh[0]).put("input", zh[1]).put("output", answer.content().strip());
        return record;
    }

    @Override
    public JsonNode export(List<ObjectNode> records) {
        ArrayNode out = JsonRecords.JSON.createArrayNode();
        for (ObjectNode r : records) {
            out.addObject().put("instruction", r.get("instruction").asText()).put("input", r.get("input").asText())
                    .put("output", r.get("output").asText());
        }
        return out;
    }

    private static final Pattern FENCE = Pattern.compile("```[a-zA-Z]*\\s*\\n?(.*?)```", Pattern.DOTALL);

    /**
     * {instruction, input} from the translator's answer: a JSON object, alone, in a fenced code block
     * or among prose. The instruction must be Chinese (hold a CJK character); the input is empty when
     * the source's is ({@code hasInput} false), whatever the model wrote.
     *
     * @throws IllegalArgumentException saying why the answer is unusable
     */
    public static String[] parseTranslation(String answer, boolean hasInput) {
        JsonNode obj = null;
        Matcher fence = FENCE.matcher(answer);
        if (fence.find()) obj = tryParse(fence.group(1));
        if (obj == null) {
            int open = answer.indexOf('{'), close = answer.lastIndexOf('}');
            if (open >= 0 && close > open) obj = tryParse(answer.substring(open, close + 1));
        }
        if (obj == null || !obj.isObject()) throw new IllegalArgumentException("the translation holds no JSON object");
        JsonNode instruction = obj.get("instruction"), input = obj.get("input");
        if (instruction == null || !instruction.isTextual() || instruction.asText().isBlank()) {
            throw new IllegalArgumentException("the translation has no \"instruction\" text");
        }
        String zhInput = "";
        if (hasInput) {
            if (input == null || !input.isTextual() || input.asText().isBlank()) throw new IllegalArgumentException("the translation has no \"input\" text");
            zhInput = input.asText().strip();
        }
        String zh = instruction.asText().strip();
        if (zh.codePoints().noneMatch(TranslateJob::isCjk)) throw new IllegalArgumentException("the instruction was not translated to Chinese: \"" + zh + "\"");
        return new String[] {zh, zhInput};
    }

    private static boolean isCjk(int cp) {
        return Character.UnicodeScript.of(cp) == Character.UnicodeScript.HAN;
    }

    private static JsonNode tryParse(String json) {
        try {
            return JsonRecords.JSON.readTree(json);
        } catch (JacksonException e) {
            return null;
        }
    }
}
