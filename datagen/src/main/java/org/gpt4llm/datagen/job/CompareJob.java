package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.datagen.job.JsonRecords.Located;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Message;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;

/**
 * The paper's comparison data: K models' answers to the same instructions, each rated 1-10 by the
 * judge with the Vicuna single-answer rating prompt (score on the first line) →
 * {@code {user_input, responses_and_scores: [{response, score, source}]}}.
 *
 * <p>The answer files are given to the constructor; each is FastChat answer JSONL ({@code question_id,
 * model_id, text} or {@code choices[0].turns[0]}; its source is the {@code model_id}) or Alpaca JSON
 * ({@code instruction, input, output}; its source is the file name without extension). {@link #read}'s
 * argument says where the instructions come from: one of the answer files means the answer files
 * themselves (all Alpaca, joined by instruction and input, the k-th repeat with the k-th); any other
 * file is a question file (Vicuna {@code {question_id, text}}, user-oriented {@code {id, instruction,
 * instances}} or Alpaca, whose id is its {@code id} or else its index) that sets the order, FastChat answers joining it by
 * question id and Alpaca answers by instruction and input. An instruction some files lack is rated
 * with the answers it has, as in the paper's data; one that no file answers is left out.
 *
 * <p>{@code user_input} is the instruction, followed by a blank line and the input when there is one.
 *
 * <p>An item is keyed by its question's own id (a Vicuna {@code question_id}, a record's {@code id})
 * when it has one, else by its user input; either way a new or changed answer to rate makes it new work.
 */
public final class CompareJob implements Job {
    static final String SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer.";
    static final String RATING = "We would like to request your feedback on the performance of an AI assistant in response"
            + " to the user question displayed above.\nPlease rate the helpfulness, relevance, accuracy, level of details of"
            + " their responses. The assistant receives an overall score on a scale of 1 to 10, where a higher score indicates"
            + " better overall performance.\nPlease first output a single line containing only one value indicating the score"
            + " for the Assistant.\nIn the subsequent line, please provide a comprehensive explanation of your evaluation,"
            + " avoiding any potential bias.";
    static final double TEMPERATURE = 0.2;
    static final int MAX_TOKENS = 512;

    private final List<Path> answerFiles;

    public CompareJob(List<Path> answerFiles) {
        if (answerFiles.isEmpty()) throw new IllegalArgumentException("compare needs at least one answer file");
        this.answerFiles = List.copyOf(answerFiles);
    }

    @Override
    public String name() {
        return "compare";
    }

    /** One model's answers, keyed by question id (FastChat) or by instruction, input and repeat (Alpaca), and where each is. */
    private record AnswerFile(Path file, String source, boolean byQuestionId, Map<String, String> answers,
                              List<String> order, Map<String, String> userInputs, Map<String, String> where) {}

    /**
     * A question: its id (its own, or its index), the key Alpaca answers join it by (instruction, input,
     * repeat), the user input shown to the judge, and where it is.
     */
    private record Question(String id, boolean ownId, String join, String userInput, String where) {}

    @Override
    public List<Item> read(Path input) throws IOException {
        List<AnswerFile> files = new ArrayList<>();
        Map<String, Path> sources = new HashMap<>();
        for (Path f : answerFiles) {
            AnswerFile a = readAnswers(f);
            Path before = sources.put(a.source(), f);
            if (before != null) {
                throw new IllegalArgumentException(before + " and " + f + " both hold answers of " + a.source()
                        + "; every answer file must come from a different model");
            }
            files.add(a);
        }
        boolean fromAnswers = answerFiles.stream().anyMatch(f -> same(f, input));
        List<Question> questions = new ArrayList<>();
        if (fromAnswers) {
            for (AnswerFile a : files) {
                if (a.byQuestionId()) {
                    throw new IllegalArgumentException(a.file() + " holds FastChat answers without the question text;"
                            + " give the question file as the input");
                }
            }
            Map<String, Question> seen = new LinkedHashMap<>();
            for (AnswerFile a : files) {
                for (String k : a.order()) {
                    seen.putIfAbsent(k, new Question(String.valueOf(seen.size()), false, k, a.userInputs().get(k), a.where().get(k)));
                }
            }
            questions.addAll(seen.values());
        } else {
            questions = readQuestions(input);
            Set<String> known = new HashSet<>(); // question ids (prefixed) and Alpaca join keys
            for (Question q : questions) {
                known.add("id\u0000" + q.id());
                known.add(q.join());
            }
            for (AnswerFile a : files) {
                for (String k : a.order()) {
                    if (!known.contains(a.byQuestionId() ? "id\u0000" + k : k)) {
                        throw new IllegalArgumentException(a.file() + " answers a question that is not in " + input
                                + (a.byQuestionId() ? " (question_id " + k + ")" : " (" + abbreviate(a.userInputs().get(k)) + ")"));
                    }
                }
            }
        }
        List<Item> items = new ArrayList<>();
        for (Question q : questions) {
            ObjectNode src = JsonRecords.JSON.createObjectNode();
            src.put("user_input", q.userInput());
            ArrayNode answers = src.putArray("answers");
            for (AnswerFile a : files) {
                String response = a.answers().get(a.byQuestionId() ? q.id() : q.join());
                if (response != null) answers.addObject().put("source", a.source()).put("response", response);
            }
            // what is rated is the request: the user input and every answer with its model
            if (!answers.isEmpty()) items.add(new Item(q.id(), q.where(), src, q.ownId() ? q.id() : null, src));
        }
        if (items.isEmpty()) throw new IllegalArgumentException("the answer files " + answerFiles + " answer none of the questions of " + input);
        return items;
    }

    private static AnswerFile readAnswers(Path file) throws IOException {
        List<Located> records = JsonRecords.read(file);
        if (records.isEmpty()) throw new IllegalArgumentException(file + " holds no answers");
        boolean fastChat = records.getFirst().node().has("question_id");
        String stem = file.getFileName().toString().replaceFirst("\\.[^.]*$", "");
        String source = null;
        Map<String, String> answers = new HashMap<>(), userInputs = new HashMap<>(), where = new HashMap<>();
        Map<String, Integer> repeats = new HashMap<>();
        List<String> order = new ArrayList<>();
        for (Located r : records) {
            String key, text;
            if (fastChat) {
                JsonNode id = r.node().get("question_id");
                if (id == null || !(id.isTextual() || id.isIntegralNumber())) {
                    throw new IllegalArgumentException(r.where() + " has no question_id, unlike the file's first record");
                }
                key = id.asText();
                JsonNode turn = r.node().path("choices").path(0).path("turns").path(0);
                if (r.node().path("text").isTextual()) text = r.node().get("text").asText();
                else if (turn.isTextual()) text = turn.asText();
                else throw new IllegalArgumentException(r.where() + " has no answer text (\"text\" or choices[0].turns[0])");
                String model = r.node().path("model_id").asText(stem);
                if (source == null) source = model;
                else if (!source.equals(model)) {
                    throw new IllegalArgumentException(r.where() + " is an answer of " + model + " but the file's first is of " + source);
                }
                if (answers.containsKey(key)) throw new IllegalArgumentException(r.where() + " answers question_id " + key + " again");
            } else {
                if (!r.node().path("instruction").isTextual() || !r.node().path("output").isTextual()) {
                    throw new IllegalArgumentException(r.where() + " is not an answer: it needs question_id and text (FastChat)"
                            + " or instruction and output (Alpaca)");
                }
                String instruction = JsonRecords.text(r, "instruction"), in = JsonRecords.text(r, "input");
                String base = instruction + "\u0000" + in;
                int k = repeats.merge(base, 1, Integer::sum) - 1;
                key = base + "\u0000" + k;
                text = JsonRecords.text(r, "output");
                userInputs.put(key, userInput(instruction, in));
                source = stem;
            }
            answers.put(key, text);
            order.add(key);
            where.put(key, r.where());
        }
        return new AnswerFile(file, source, fastChat, answers, order, userInputs, where);
    }

    /** The questions of a question file, in the file's order. */
    private static List<Question> readQuestions(Path file) throws IOException {
        List<Question> out = new ArrayList<>();
        Map<String, Integer> repeats = new HashMap<>();
        List<Located> records = JsonRecords.read(file);
        for (int i = 0; i < records.size(); i++) {
            Located r = records.get(i);
            ObjectNode n = r.node();
            List<String[]> qs = new ArrayList<>(); // {id, instruction, input}
            boolean own = true;
            if (n.has("answer_id") || n.has("model_id")) {
                throw new IllegalArgumentException(r.where() + " is an answer, not a question: give the question file as the input,"
                        + " or one of the answer files when they hold the instructions");
            } else if (n.has("question_id") && n.path("text").isTextual()) {
                qs.add(new String[] {n.get("question_id").asText(), n.get("text").asText(), ""});
            } else if (n.path("instances").isArray() && n.path("instruction").isTextual()) {
                JsonNode inst = n.get("instances");
                if (inst.isEmpty()) throw new IllegalArgumentException(r.where() + ": \"instances\" is empty");
                String id = n.has("id") ? n.get("id").asText() : String.valueOf(i);
                own = n.has("id");
                for (int k = 0; k < inst.size(); k++) {
                    qs.add(new String[] {inst.size() == 1 ? id : id + "_" + k, n.get("instruction").asText(), inst.get(k).path("input").asText("")});
                }
            } else if (n.path("instruction").isTextual()) {
                // an id of the record's own (a demo task's) is the one generate gave its answers; else the index
                String id = Item.ownId(n, "id");
                own = id != null;
                qs.add(new String[] {own ? id : String.valueOf(i), n.get("instruction").asText(), JsonRecords.text(r, "input")});
            } else {
                throw new IllegalArgumentException(r.where() + " is not a question: it needs question_id and text (Vicuna),"
                        + " instruction and instances (user-oriented) or instruction (Alpaca)");
            }
            for (String[] q : qs) {
                String base = q[1] + "\u0000" + q[2];
                int k = repeats.merge(base, 1, Integer::sum) - 1;
                out.add(new Question(q[0], own, base + "\u0000" + k, userInput(q[1], q[2]), r.where()));
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException(file + " holds no questions");
        return out;
    }

    static String userInput(String instruction, String input) {
        return input.isEmpty() ? instruction : instruction + "\n\n" + input;
    }

    private static boolean same(Path a, Path b) {
        return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }

    @Override
    public ObjectNode settings() {
        return JsonRecords.JSON.createObjectNode().put("job", name()).put("temperature", TEMPERATURE).put("max_tokens", MAX_TOKENS);
    }

    @Override
    public List<String> prompts() {
        return ratingRequest("{question}", "{answer}").messages().stream().map(Message::content).toList();
    }

    /** The judge's request for one answer to one question. */
    static ChatRequest ratingRequest(String question, String answer) {
        String prompt = "[Question]\n" + question + "\n\n[The Start of Assistant's Answer]\n" + answer
                + "\n\n[The End of Assistant's Answer]\n\n[System]\n" + RATING + "\n\n";
        return new ChatRequest(List.of(Message.system(SYSTEM), Message.user(prompt)), TEMPERATURE, MAX_TOKENS);
    }

    @Override
    public List<ChatRequest> preview(Item item) {
        String q = item.source().get("user_input").asText();
        List<ChatRequest> out = new ArrayList<>();
        for (JsonNode a : item.source().get("answers")) out.add(ratingRequest(q, a.get("response").asText()));
        return out;
    }

    @Override
    public ObjectNode run(Item item, Teacher teacher) throws TeacherException {
        String q = item.source().get("user_input").asText();
        ObjectNode record = JsonRecords.JSON.createObjectNode();
        record.put("user_input", q);
        ArrayNode scored = record.putArray("responses_and_scores");
        for (JsonNode a : item.source().get("answers")) {
            String response = a.get("response").asText(), source = a.get("source").asText();
            ChatResponse judged = teacher.chat(ratingRequest(q, response));
            double score;
            try {
                score = parseScore(judged.content());
            } catch (IllegalArgumentException e) {
                throw new TeacherException("item " + item.id() + ", answer of " + source + ": " + e.getMessage(), 200, e);
            }
            scored.addObject().put("response", response).put("score", score).put("source", source);
        }
        return record;
    }

    @Override
    public JsonNode export(List<ObjectNode> records) {
        ArrayNode out = JsonRecords.JSON.createArrayNode();
        for (ObjectNode r : records) {
            out.addObject().put("user_input", r.get("user_input").asText()).set("responses_and_scores", r.get("responses_and_scores"));
        }
        return out;
    }

    private static final Pattern NUMBER = Pattern.compile("-?\\d+(?:\\.\\d+)?");
    /** "/10", "/ 10.0", "out of 10": the scale, not a second score. */
    private static final Pattern SCALE = Pattern.compile("(?:/\\s*|\\bout\\s+of\\s+)10(?:\\.0+)?\\b", Pattern.CASE_INSENSITIVE);

    /**
     * The score on the judge's first non-blank line: markdown emphasis and a label ("Score:",
     * "Rating:") are allowed, and so is the scale ("8/10", "7 out of 10"); exactly one number in 1..10.
     *
     * @throws IllegalArgumentException saying why there is no usable score
     */
    public static double parseScore(String answer) {
        String line = answer == null ? "" : answer.strip();
        if (line.isEmpty()) throw new IllegalArgumentException("the judge's answer is empty");
        int nl = line.indexOf('\n');
        if (nl >= 0) line = line.substring(0, nl).strip();
        String shown = abbreviate(line);
        String plain = SCALE.matcher(line.replaceAll("[*_`#]", " ")).replaceAll(" ");
        // a label ends at the last colon ("Assistant 1: 8"), unless the number is before it ("8: good")
        int colon = plain.lastIndexOf(':');
        String value = colon >= 0 && NUMBER.matcher(plain.substring(colon + 1)).find() ? plain.substring(colon + 1) : plain;
        Matcher m = NUMBER.matcher(value);
        if (!m.find()) throw new IllegalArgumentException("the judge's first line holds no score: \"" + shown + "\"");
        String number = m.group();
        if (m.find()) throw new IllegalArgumentException("the judge's first line holds more than one number: \"" + shown + "\"");
        double score = Double.parseDouble(number);
        if (!(score >= 1 && score <= 10)) throw new IllegalArgumentException("the judge's score " + number + " is outside 1-10: \"" + shown + "\"");
        return score;
    }
}
