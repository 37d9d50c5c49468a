package org.gpt4llm.generate;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.datagen.run.ContentKey;
import org.gpt4llm.datagen.run.RunSettings;
import org.gpt4llm.generate.Questions.Question;
import org.gpt4llm.io.AtomicFiles;

/**
 * A JSONL file of FastChat answer records that a rerun continues by key. Every record carries in its
 * metadata the key of the question it answers ({@link Question#key()}: its own id, else a hash of its
 * instruction and input) and the settings of the run that made it ({@link AnswerSettings}); a question
 * is answered when a record holds its key, and a file holding records of other settings (another
 * model, another temperature...) is refused, never mixed into.
 *
 * <p>Opening a file puts it in order for the current questions, atomically: a last line cut short by
 * a killed run is dropped (that answer is made again); an answer whose question has moved (a file
 * without ids, edited) takes the question's id; questions of one key all get the answer. Answers to
 * no current question stay in the file when their ids are the questions' own, and are moved to
 * {@code <file>.unmatched.jsonl} when their id was an index that now names another question (nothing
 * collected is deleted). Records written before keys and settings were recorded are matched by
 * question_id, with a warning, and continued as this run's.
 *
 * <p>Records are appended one batch at a time and flushed, so a killed run loses at most the batch in flight.
 */
public final class AnswerFile implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** For records rewritten on opening: numbers kept as written (a tstamp stays 1795610870.765). */
    private static final ObjectMapper EXACT = JsonMapper.builder().enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
            .nodeFactory(JsonNodeFactory.withExactBigDecimals(true)).build();
    /** shortuuid's alphabet: no 0/O, 1/I/l look-alikes. */
    private static final String ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    private static final SecureRandom RANDOM = new SecureRandom();

    private final RunSettings settings;
    private final Map<String, List<Question>> questionsByKey;
    private final Set<String> done;
    private final int unmatched;
    private final Path file;
    /** Opened by the first write: a run refused or with nothing to do creates no file. */
    private OutputStream out;

    private AnswerFile(Path file, RunSettings settings, Map<String, List<Question>> questionsByKey, Set<String> done, int unmatched) {
        this.file = file;
        this.settings = settings;
        this.questionsByKey = questionsByKey;
        this.done = done;
        this.unmatched = unmatched;
    }

    /**
     * Opens {@code file} for a run of {@code settings} over {@code questions} (the whole question
     * file, whatever part of it this run answers); notes (a warning, answers moved aside) go to {@code notes}.
     *
     * @throws IllegalArgumentException when the file holds an answer of other settings (naming the setting and both values)
     */
    public static AnswerFile open(Path file, RunSettings settings, List<Question> questions, Consumer<String> notes) throws IOException {
        return open(file, settings, questions, null, notes);
    }

    /**
     * The same for a file of best-of-n's k-th ranked answers, written just before the main file: its
     * answers to questions the main file has not {@code finished} (a run killed between the two
     * writes) are dropped, to be made again with the rest of their batch.
     */
    public static AnswerFile openGroup(Path file, RunSettings settings, List<Question> questions, Set<String> finished,
                                       Consumer<String> notes) throws IOException {
        return open(file, settings, questions, Set.copyOf(finished), notes);
    }

    private static AnswerFile open(Path file, RunSettings settings, List<Question> questions, Set<String> finished,
                                   Consumer<String> notes) throws IOException {
        Read read = read(file);
        int legacy = 0;
        for (Line l : read.lines()) { // refused before anything is touched
            JsonNode theirs = keyed(l.node()) ? l.node().get("metadata").get("settings") : AnswerSettings.legacyView(settings, l.node());
            if (!keyed(l.node())) legacy++;
            settings.difference(theirs, file).ifPresent(sentence -> {
                throw new IllegalArgumentException(sentence);
            });
        }
        if (legacy > 0) {
            notes.accept("warning: " + file + " holds " + answers(legacy) + " written before answers recorded their question's"
                    + " key and run settings: they are matched by question_id and continued as this run's");
        }
        Map<String, List<Question>> byKey = Collections.unmodifiableMap(Questions.byKey(questions));
        Sorted s = new Sorted(settings, byKey, finished);
        for (Line l : read.lines()) s.add(l);
        s.copyToEveryQuestionOfAKey();
        if (!s.moved.isEmpty()) {
            Path aside = file.resolveSibling(file.getFileName() + ".unmatched.jsonl");
            // appended before the file is rewritten: a kill in between leaves them twice, never nowhere
            Files.writeString(aside, String.join("\n", s.moved) + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
            notes.accept(file + ": " + answers(s.moved.size()) + " to questions no longer asked (or answered twice) moved to " + aside);
        }
        if (read.changed() || s.changed) {
            StringBuilder sb = new StringBuilder();
            for (String l : s.kept) sb.append(l).append('\n');
            AtomicFiles.write(file, sb.toString().getBytes(StandardCharsets.UTF_8));
        }
        return new AnswerFile(file, settings, byKey, new LinkedHashSet<>(s.covered.keySet()), s.unmatched);
    }

    /** The keys of the questions the file answers. */
    public Set<String> done() {
        return Collections.unmodifiableSet(done);
    }

    /** How many of the file's records answer no current question (kept in it, or moved aside). */
    public int unmatched() {
        return unmatched;
    }

    /**
     * A new record answering {@code q} with {@code text}: question_id, answer_id, model_id, text,
     * metadata (the question's key and the run's settings; the caller adds the rest) and tstamp.
     */
    public ObjectNode newRecord(Question q, String text) {
        ObjectNode r = JSON.createObjectNode();
        r.set("question_id", q.id());
        r.put("answer_id", answerId());
        r.set("model_id", settings.values().get(AnswerSettings.MODEL_ID));
        r.put("text", text);
        ObjectNode m = r.putObject("metadata");
        m.put("key", q.key());
        m.set("settings", settings.values().deepCopy());
        r.put("tstamp", BigDecimal.valueOf(System.currentTimeMillis(), 3)); // seconds, as Python's time.time()
        return r;
    }

    /**
     * Appends the records (from {@link #newRecord}), each under the id of every question of its key,
     * one line each, and flushes them to the disk.
     */
    public void write(List<ObjectNode> records) throws IOException {
        StringBuilder sb = new StringBuilder();
        List<String> keys = new ArrayList<>();
        for (ObjectNode r : records) {
            String key = r.path("metadata").path("key").asText();
            List<Question> at = questionsByKey.get(key);
            if (at == null) throw new IllegalArgumentException("no question of this run has the key " + key);
            for (Question q : at) {
                ObjectNode copy = r.deepCopy();
                copy.set("question_id", q.id());
                sb.append(JSON.writeValueAsString(copy)).append('\n');
            }
            keys.add(key);
        }
        if (out == null) {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
        out.write(sb.toString().getBytes(StandardCharsets.UTF_8));
        out.flush();
        done.addAll(keys);
    }

    /** A random 22-character id in shortuuid's alphabet, as FastChat's answer_id. */
    public static String answerId() {
        StringBuilder sb = new StringBuilder(22);
        for (int i = 0; i < 22; i++) sb.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
        return sb.toString();
    }

    @Override
    public void close() throws IOException {
        if (out != null) out.close();
    }

    private static String answers(int count) {
        return count == 1 ? "1 answer" : count + " answers";
    }

    /** Whether a record carries the key and settings this version writes. */
    private static boolean keyed(JsonNode record) {
        JsonNode m = record.path("metadata");
        return m.path("key").isTextual() && m.path("settings").isObject();
    }

    private record Line(String text, JsonNode node) {}

    /** The file's whole records, and whether reading dropped anything (a cut-off last line, blank lines). */
    private record Read(List<Line> lines, boolean changed) {}

    private static Read read(Path file) throws IOException {
        List<Line> lines = new ArrayList<>();
        if (!Files.exists(file)) return new Read(lines, false);
        String text = TextFiles.readLog(file);  // a last line cut mid-character by a kill is let through
        int start = 0, number = 0;
        boolean changed = false;
        while (start < text.length()) {
            number++;
            int end = text.indexOf('\n', start);
            String l = end < 0 ? text.substring(start) : text.substring(start, end);
            boolean last = end < 0 || end == text.length() - 1;
            start = end < 0 ? text.length() : end + 1;
            if (l.isBlank()) {
                changed = true;
                continue;
            }
            JsonNode n;
            try {
                n = JSON.readTree(l);
            } catch (JacksonException e) {
                n = null;
            }
            if (n == null || !n.has("question_id") || end < 0) {
                if (last) { // a run killed mid-write: that answer is made again
                    changed = true;
                    break;
                }
                throw new IOException(file + ":" + number + " is not an answer record; fix or remove the line to resume");
            }
            lines.add(new Line(l, n));
        }
        return new Read(lines, changed);
    }

    /** The file's records put in order for the current questions, record by record. */
    private static final class Sorted {
        final RunSettings settings;
        final Map<String, List<Question>> byKey;
        final Map<String, Question> byId = new HashMap<>();
        final Set<String> finished;
        final List<String> kept = new ArrayList<>(), moved = new ArrayList<>();
        /** Per key: the ids of its questions that have their answer, and that answer (to copy to the others). */
        final Map<String, Set<String>> covered = new LinkedHashMap<>();
        final Map<String, ObjectNode> answerOf = new HashMap<>();
        int unmatched;
        boolean changed;

        Sorted(RunSettings settings, Map<String, List<Question>> byKey, Set<String> finished) {
            this.settings = settings;
            this.byKey = byKey;
            this.finished = finished;
            for (List<Question> qs : byKey.values()) for (Question q : qs) byId.put(q.idText(), q);
        }

        void add(Line l) throws IOException {
            boolean keyed = keyed(l.node());
            String id = l.node().get("question_id").asText();
            Question byItsId = byId.get(id);
            String key = keyed ? l.node().get("metadata").get("key").asText() : byItsId == null ? null : byItsId.key();
            List<Question> asking = key == null ? null : byKey.get(key);
            if (asking == null) {
                unmatched++;
                // an own id names no other question: harmless where it is; an old index may now name another
                if (key != null && !key.equals(ContentKey.ofId(id))) move(l);
                else kept.add(l.text());
                return;
            }
            if (finished != null && !finished.contains(key)) {
                changed = true;
                return;
            }
            Set<String> have = covered.computeIfAbsent(key, k -> new LinkedHashSet<>());
            Question target = null;
            for (Question q : asking) if (q.idText().equals(id) && !have.contains(id)) target = q;
            for (int i = 0; target == null && i < asking.size(); i++) if (!have.contains(asking.get(i).idText())) target = asking.get(i);
            String answerId = l.node().path("answer_id").asText();
            if (target == null) { // every question of the key is answered already
                ObjectNode first = answerOf.get(key);
                if (first != null && first.path("answer_id").asText().equals(answerId)) changed = true; // a copy, made again below
                else {
                    unmatched++;
                    move(l); // a second answer to one question
                }
                return;
            }
            have.add(target.idText());
            ObjectNode record = (ObjectNode) EXACT.readTree(l.text());
            answerOf.putIfAbsent(key, record);
            if (keyed && l.node().get("question_id").equals(target.id())) {
                kept.add(l.text());
                return;
            }
            record.set("question_id", target.id());
            if (!keyed) {
                ObjectNode meta = record.path("metadata").isObject() ? (ObjectNode) record.get("metadata") : record.putObject("metadata");
                meta.put("key", key);
                meta.set("settings", settings.values().deepCopy());
            }
            kept.add(EXACT.writeValueAsString(record));
            changed = true;
        }

        /** Questions that share a key with an answered one get its answer under their own id. */
        void copyToEveryQuestionOfAKey() throws IOException {
            for (Map.Entry<String, Set<String>> e : covered.entrySet()) {
                for (Question q : byKey.get(e.getKey())) {
                    if (e.getValue().contains(q.idText())) continue;
                    ObjectNode copy = answerOf.get(e.getKey()).deepCopy();
                    copy.set("question_id", q.id());
                    kept.add(EXACT.writeValueAsString(copy));
                    e.getValue().add(q.idText());
                    changed = true;
                }
            }
        }

        private void move(Line l) {
            moved.add(l.text());
            changed = true;
        }
    }
}
