package org.gpt4llm.eval.judge;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.gpt4llm.datagen.job.Item;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.datagen.job.JsonRecords.Located;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.gpt4llm.eval.judge.JudgePrompts.Mode;

/**
 * GPT-4 as judge of one model against a reference model on the evaluation questions, as a datagen
 * {@link Job} so the runner makes it concurrent and resumable. An item is one review: a question in
 * one order ({@code "<question_id>/model-first"} and {@code "/reference-first"}, both judged so
 * that position bias cancels) or, in {@link Mode#SINGLE}, one answer ({@code "/model"},
 * {@code "/reference"}). The record is a FastChat review ({@code review_id, question_id,
 * answer1_id, answer2_id, reviewer_id, text, score, metadata}) in the order shown to the judge; the
 * metadata says which side is the model, so reviews alone can be aggregated ({@link JudgeSummary}).
 *
 * <p>An answer the judge's reply cannot be read from is kept with {@code score [-1, -1]} (as
 * FastChat does) and {@code metadata.parse_error}, so it is counted, never read as a score.
 *
 * <p>With {@code translate}, the question and both answers are first translated into Chinese by the
 * teacher (once per question) and the translations are judged: the paper's Fig. 5 setting.
 *
 * <p>A review is keyed by its question id and order, and its content is everything the judge is
 * shown: the question, both answers (with their models and answer ids) and the mode, so a changed
 * question or answer is judged again and nothing else is. The judge model, the mode, the prompts and
 * whether the texts are translated are the settings every review line records.
 */
public final class JudgeJob implements Job {
    static final ObjectMapper JSON = new ObjectMapper();

    private final Mode mode;
    private final AnswerSet model;
    private final AnswerSet reference;
    private final boolean translate;
    private final String judgeName;
    /** Translations by question id: {question, model answer, reference answer}; computed once per question. */
    private final Map<String, String[]> translations = new ConcurrentHashMap<>();
    private final Map<String, Object> translationLocks = new ConcurrentHashMap<>();
    private final List<String> unanswered = new ArrayList<>();

    /** {@code judgeName}: the judge model's name, for {@code reviewer_id}. */
    public JudgeJob(Mode mode, AnswerSet model, AnswerSet reference, boolean translate, String judgeName) {
        this.mode = mode;
        this.model = model;
        this.reference = reference;
        this.translate = translate;
        this.judgeName = judgeName;
    }

    @Override
    public String name() {
        return "judge " + model.model() + " vs " + reference.model();
    }

    /** The two sides each question is judged in; FastChat's Assistant 1 / A is the first. */
    static List<String> sides(Mode mode) {
        return mode == Mode.SINGLE ? List.of("model", "reference") : List.of("model-first", "reference-first");
    }

    /**
     * The reviews to do for the questions of {@code questions} (Vicuna {@code {question_id, text,
     * category}}) that both answer files answer; an answer to a question the file lacks is an error.
     */
    @Override
    public List<Item> read(Path questions) throws IOException {
        List<Located> records = JsonRecords.read(questions);
        List<Item> items = new ArrayList<>();
        java.util.Set<String> ids = new java.util.HashSet<>();
        for (Located r : records) {
            JsonNode qid = r.node().get("question_id");
            if (qid == null || !(qid.isTextual() || qid.isIntegralNumber()) || !r.node().path("text").isTextual()) {
                throw new IllegalArgumentException(r.where() + " is not a question: it needs question_id and text (Vicuna)");
            }
            String id = qid.asText();
            if (!ids.add(id)) throw new IllegalArgumentException(r.where() + " repeats question_id " + id);
            AnswerSet.Answer a = model.answers().get(id), b = reference.answers().get(id);
            if (a == null || b == null) {
                unanswered.add(id);
                continue;
            }
            for (String side : sides(mode)) {
                ObjectNode src = JSON.createObjectNode();
                src.set("question_id", qid);
                src.put("text", r.node().get("text").asText());
                src.put("category", r.node().path("category").asText("general"));
                src.put("side", side);
                ObjectNode shown = src.deepCopy().put("mode", modeName());
                shown.set("model", answer(model, a));
                shown.set("reference", answer(reference, b));
                items.add(new Item(id + "/" + side, r.where(), src, id + "/" + side, shown));
            }
        }
        for (AnswerSet set : List.of(model, reference)) {
            for (String id : set.answers().keySet()) {
                if (!ids.contains(id)) throw new IllegalArgumentException(set.file() + " answers question_id " + id + ", which is not in " + questions);
            }
        }
        if (items.isEmpty()) throw new IllegalArgumentException(model.file() + " and " + reference.file() + " answer none of the same questions of " + questions);
        return items;
    }

    private static ObjectNode answer(AnswerSet set, AnswerSet.Answer a) {
        return JSON.createObjectNode().put("model", set.model()).put("answer_id", a.id()).put("text", a.text());
    }

    private String modeName() {
        return mode.name().toLowerCase(Locale.ROOT);
    }

    /** Requests of this mode with placeholders for the texts: the prompts, temperature and max tokens the reviews are made with. */
    private List<ChatRequest> templates() {
        List<ChatRequest> t = new ArrayList<>(switch (mode) {
            case VICUNA -> List.of(JudgePrompts.vicuna("general", "{question}", "{answer 1}", "{answer 2}"),
                    JudgePrompts.vicuna("coding", "{question}", "{answer 1}", "{answer 2}"),
                    JudgePrompts.vicuna("math", "{question}", "{answer 1}", "{answer 2}"));
            case PAIRWISE -> List.of(JudgePrompts.pairwise("{question}", "{answer a}", "{answer b}"));
            case SINGLE -> List.of(JudgePrompts.single("{question}", "{answer}"));
        });
        if (translate) t.add(JudgePrompts.translation("{text}"));
        return t;
    }

    @Override
    public ObjectNode settings() {
        ChatRequest judged = templates().getFirst();
        return JSON.createObjectNode().put("job", "judge").put("mode", modeName()).put("translate", translate)
                .put("temperature", judged.temperature()).put("max_tokens", judged.maxTokens());
    }

    @Override
    public List<String> prompts() {
        List<String> out = new ArrayList<>();
        for (ChatRequest r : templates()) for (var m : r.messages()) out.add(m.content());
        return out;
    }

    /**
     * Takes the translations that the reviews already done for this input hold (the runner's records,
     * so a changed question or answer is translated again), so a resumed run judges a question's
     * second order on the same Chinese text as its first (and does not pay for it twice).
     */
    public void reuseTranslations(List<? extends JsonNode> reviews) {
        for (JsonNode r : reviews) {
            JsonNode zh = r.path("metadata").path("translation");
            if (!zh.isObject()) continue;
            translations.putIfAbsent(r.path("question_id").asText(),
                    new String[] {zh.path("question").asText(), zh.path("model_answer").asText(), zh.path("reference_answer").asText()});
        }
    }

    /** Question ids of the question file that one of the answer files does not answer (left out). */
    public List<String> unanswered() {
        return List.copyOf(unanswered);
    }

    /** The texts judged for a question: {question, model answer, reference answer}, translated or not. */
    private String[] texts(Item item, Teacher teacher) throws TeacherException {
        String id = item.source().get("question_id").asText();
        String[] original = {item.source().get("text").asText(), model.answers().get(id).text(), reference.answers().get(id).text()};
        if (!translate) return original;
        synchronized (translationLocks.computeIfAbsent(id, k -> new Object())) {
            String[] done = translations.get(id);
            if (done != null) return done;
            String[] zh = new String[3];
            for (int i = 0; i < 3; i++) {
                ChatResponse r = teacher.chat(JudgePrompts.translation(original[i]));
                if ("length".equals(r.finishReason()) || r.content().isBlank()) {
                    throw new TeacherException("question " + id + ": the translation of the " + new String[] {"question", "model's answer",
                            "reference's answer"}[i] + " was " + (r.content().isBlank() ? "empty" : "cut off at the token limit"), 200, null);
                }
                zh[i] = r.content().strip();
            }
            translations.put(id, zh);
            return zh;
        }
    }

    private ChatRequest request(Item item, String[] t) {
        String side = item.source().get("side").asText(), category = item.source().get("category").asText();
        return switch (mode) {
            case VICUNA -> side.equals("model-first") ? JudgePrompts.vicuna(category, t[0], t[1], t[2]) : JudgePrompts.vicuna(category, t[0], t[2], t[1]);
            case PAIRWISE -> side.equals("model-first") ? JudgePrompts.pairwise(t[0], t[1], t[2]) : JudgePrompts.pairwise(t[0], t[2], t[1]);
            case SINGLE -> JudgePrompts.single(t[0], side.equals("model") ? t[1] : t[2]);
        };
    }

    /** The judge's request (untranslated; the translations come first when translating). */
    @Override
    public List<ChatRequest> preview(Item item) {
        String id = item.source().get("question_id").asText();
        String[] t = {item.source().get("text").asText(), model.answers().get(id).text(), reference.answers().get(id).text()};
        return List.of(translate ? JudgePrompts.translation(t[0]) : request(item, t));
    }

    @Override
    public ObjectNode run(Item item, Teacher teacher) throws TeacherException {
        String id = item.source().get("question_id").asText();
        String side = item.source().get("side").asText(), category = item.source().get("category").asText();
        String[] t = texts(item, teacher);
        ChatRequest request = request(item, t);
        ChatResponse answer = teacher.chat(request);

        boolean modelFirst = side.equals("model-first") || side.equals("model");
        AnswerSet.Answer a = model.answers().get(id), b = reference.answers().get(id);
        ObjectNode r = JSON.createObjectNode();
        r.put("review_id", UUID.randomUUID().toString().replace("-", ""));
        r.set("question_id", item.source().get("question_id"));
        r.put("answer1_id", (modelFirst ? a : b).id());
        if (mode == Mode.SINGLE) r.putNull("answer2_id");
        else r.put("answer2_id", (modelFirst ? b : a).id());
        r.put("reviewer_id", judgeName + "-" + switch (mode) {
            case VICUNA -> JudgePrompts.reviewer(category);
            case PAIRWISE -> "pair-v2";
            case SINGLE -> "single-v1";
        });
        r.put("text", answer.content());
        ArrayNode score = r.putArray("score");
        ObjectNode meta = JSON.createObjectNode();
        String error;
        switch (mode) {
            case VICUNA -> {
                Verdicts.Parsed p = Verdicts.scorePair(answer.content(), JudgePrompts.reviewer(category).equals("math"));
                error = p.error();
                if (p.ok()) score.add(p.scores()[0]).add(p.scores()[1]);
                else score.add(-1).add(-1);
            }
            case SINGLE -> {
                Verdicts.Parsed p = Verdicts.rating(answer.content());
                error = p.error();
                score.add(p.ok() ? p.scores()[0] : -1);
            }
            default -> {
                Verdicts.Verdict v = Verdicts.pairwise(answer.content());
                error = v.error();
                // FastChat's win points in the order shown: 1 for the winner, 0.5 each for a tie
                if (v.winner() == null) score.add(-1).add(-1);
                else if (v.winner() == 'C') score.add(0.5).add(0.5);
                else score.add(v.winner() == 'A' ? 1 : 0).add(v.winner() == 'A' ? 0 : 1);
                meta.put("verdict", v.winner() == null ? "error" : v.winner() == 'C' ? "tie" : String.valueOf(v.winner()));
            }
        }
        meta.put("mode", modeName());
        meta.put("category", category);
        meta.put("model", model.model());
        meta.put("reference", reference.model());
        meta.put("order", side);
        // which of answer1 / answer2 (score[0] / score[1]) is the model's
        meta.put("model_position", modelFirst ? 1 : 2);
        meta.put("parsed", error == null);
        if (error != null) meta.put("parse_error", error);
        meta.put("temperature", request.temperature());
        meta.put("max_tokens", request.maxTokens());
        if (translate) {
            ObjectNode zh = meta.putObject("translation");
            zh.put("language", "zh").put("question", t[0]).put("model_answer", t[1]).put("reference_answer", t[2]);
        }
        r.set("metadata", meta);
        return r;
    }

    /** The reviews as FastChat review JSONL lines (the runner's output is that, plus its item {@code id}). */
    @Override
    public JsonNode export(List<ObjectNode> records) {
        ArrayNode out = JSON.createArrayNode();
        out.addAll(records);
        return out;
    }
}
