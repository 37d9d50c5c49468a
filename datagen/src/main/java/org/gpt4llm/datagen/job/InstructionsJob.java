package org.gpt4llm.datagen.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.datagen.job.JsonRecords.Located;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.gpt4llm.datagen.text.Rouge;

/**
 * Stanford Alpaca's self-instruct generation of new tasks. Each item is one round: 3 tasks sampled
 * from the seed tasks (as Alpaca samples, from the seeds only; fixed by the seed and the round, so a
 * resumed run and {@code --dry-run} ask the same) go into a prompt asking for 20 new tasks; the
 * numbered Instruction/Input/Output blocks of the answer are kept unless a filter drops them:
 * <ul>
 *   <li>{@code truncated}: the last task when the answer stopped at the token limit;</li>
 *   <li>{@code length}: an instruction of 3 words or fewer, or more than 150 (Alpaca's bounds);</li>
 *   <li>{@code blacklist}: a word a text model cannot serve (image, graph, file, map, draw, video, ...);</li>
 *   <li>{@code write_a_program}: starting with "Write a program";</li>
 *   <li>{@code punctuation}, {@code non_ascii}: starting with ASCII punctuation or a non-ASCII character;</li>
 *   <li>{@code similar}: ROUGE-L F-measure above 0.7 with a seed or any instruction kept so far, in any round;</li>
 *   <li>{@code malformed}: a block without its Input or Output.</li>
 * </ul>
 * The de-duplication state is shared by every thread running rounds. A resumed run does not know
 * what an earlier process kept, so {@link #export} applies the same de-duplication again over all
 * rounds in order; after an uninterrupted run it drops nothing.
 *
 * <p>A round is keyed by its number and the examples its prompt shows: more rounds, another seed or
 * other seed tasks ask exactly the rounds whose prompt is new. The number is part of the key because
 * a round is a sample, not a question with one answer: two rounds that happen to show the same three
 * examples are both asked.
 */
public final class InstructionsJob implements Job {
    static final int EXAMPLES = 3;
    static final int NEW_TASKS = 20;
    static final double SIMILAR = 0.7;
    static final double TEMPERATURE = 1.0;
    static final int MAX_TOKENS = 3072;
    static final String PROMPT = "You are asked to come up with " + NEW_TASKS + " new, diverse task instructions. They will be"
            + " given to a GPT model, and we will evaluate how well it completes them.\n\n"
            + "Requirements:\n"
            + "1. Vary the verbs: try not to use the same verb in two instructions.\n"
            + "2. Vary the wording: mix questions with imperative instructions.\n"
            + "3. Vary the kind of task: open-ended generation, classification, editing, rewriting, question answering,"
            + " reasoning and so on.\n"
            + "4. A GPT language model must be able to complete the instruction: no visual or audio output, and no action"
            + " in the world such as setting a reminder or waking someone up.\n"
            + "5. Write the instructions in English, 1 to 2 sentences each, as an imperative sentence or a question.\n"
            + "6. Give each instruction an appropriate input: a specific, realistic example with substantial content rather"
            + " than a placeholder, ideally under 100 words. Where an instruction needs no input (a general knowledge"
            + " question, say), write <noinput> as its input.\n"
            + "7. Give each task an appropriate output for its instruction and input, under 100 words.\n\n"
            + "Here are %d example tasks. Write tasks %d to %d in exactly the same format, each after a line \"###\".\n";

    /** Why a generated task was dropped, in the order the filters apply. */
    enum Discard {
        MALFORMED, TRUNCATED, LENGTH, BLACKLIST, WRITE_A_PROGRAM, PUNCTUATION, NON_ASCII, SIMILAR;

        String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private static final List<String> BLACKLIST = List.of("image", "images", "graph", "graphs", "picture", "pictures",
            "file", "files", "map", "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram");
    private static final Pattern BLACKLISTED = Pattern.compile(
            "\\b(?:" + String.join("|", BLACKLIST.stream().map(Pattern::quote).toList()) + ")\\b", Pattern.CASE_INSENSITIVE);
    private static final String PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    /** One task: an instruction with its input ("" for none) and output. */
    public record Task(String instruction, String input, String output) {}

    /** The tasks an answer holds and the blocks that were not tasks. */
    public record Parsed(List<Task> tasks, int malformed, boolean truncated) {}

    private final int rounds;
    private final long seed;
    private volatile List<Task> seeds = List.of();
    private volatile Kept kept = new Kept();

    /** {@code rounds} generation rounds (items 0..rounds-1), their examples drawn with {@code seed}. */
    public InstructionsJob(int rounds, long seed) {
        if (rounds < 1) throw new IllegalArgumentException("the number of rounds must be positive, got " + rounds);
        this.rounds = rounds;
        this.seed = seed;
    }

    @Override
    public String name() {
        return "instructions";
    }

    /** Seed tasks: self-instruct JSONL {@code {instruction, instances: [{input, output}]}} (the first instance) or Alpaca records. */
    @Override
    public List<Item> read(Path input) throws IOException {
        List<Task> tasks = new ArrayList<>();
        for (Located r : JsonRecords.read(input)) {
            ObjectNode n = r.node();
            if (!n.path("instruction").isTextual() || n.get("instruction").asText().isBlank()) {
                throw new IllegalArgumentException(r.where() + " is not a seed task: it has no instruction");
            }
            if (n.has("instances")) {
                JsonNode first = n.path("instances").path(0);
                if (!first.isObject()) throw new IllegalArgumentException(r.where() + ": \"instances\" is not a list of {input, output}");
                tasks.add(new Task(n.get("instruction").asText(), first.path("input").asText(""), first.path("output").asText("")));
            } else {
                tasks.add(new Task(n.get("instruction").asText(), JsonRecords.text(r, "input"), JsonRecords.text(r, "output")));
            }
        }
        if (tasks.size() < EXAMPLES) throw new IllegalArgumentException(input + " holds " + tasks.size() + " seed tasks; a prompt needs " + EXAMPLES);
        Kept fresh = new Kept();
        for (Task t : tasks) fresh.add(Rouge.tokens(t.instruction()));
        seeds = List.copyOf(tasks);
        kept = fresh;
        List<Item> items = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            ObjectNode src = JsonRecords.JSON.createObjectNode();
            src.put("round", round);
            ArrayNode examples = src.putArray("examples");
            for (Task t : sample(tasks, round)) examples.add(taskNode(t));
            items.add(new Item(String.valueOf(round), input + ", round " + round, src, null, src));
        }
        return items;
    }

    @Override
    public ObjectNode settings() {
        return JsonRecords.JSON.createObjectNode().put("job", name()).put("temperature", TEMPERATURE).put("max_tokens", MAX_TOKENS);
    }

    @Override
    public List<String> prompts() {
        return List.of(PROMPT);
    }

    /** {@value #EXAMPLES} distinct tasks, the same for the same seed and round. */
    private List<Task> sample(List<Task> tasks, int round) {
        Random random = new Random(seed * 1_000_003L + round);
        List<Task> pool = new ArrayList<>(tasks), out = new ArrayList<>();
        for (int i = 0; i < EXAMPLES; i++) out.add(pool.remove(random.nextInt(pool.size())));
        return out;
    }

    static String prompt(List<Task> examples) {
        StringBuilder sb = new StringBuilder(PROMPT.formatted(examples.size(), examples.size() + 1, examples.size() + NEW_TASKS));
        for (int i = 0; i < examples.size(); i++) {
            Task t = examples.get(i);
            int k = i + 1;
            String instruction = t.instruction().strip().replaceAll("\\s+", " ").replaceFirst(":+$", "");
            sb.append("###\n").append(k).append(". Instruction: ").append(instruction).append('\n')
                    .append(k).append(". Input:\n").append(t.input().isEmpty() ? "<noinput>" : t.input()).append('\n')
                    .append(k).append(". Output:\n").append(t.output()).append('\n');
        }
        return sb.append("###\n").toString();
    }

    private static ChatRequest request(Item item) {
        List<Task> examples = new ArrayList<>();
        for (JsonNode e : item.source().get("examples")) {
            examples.add(new Task(e.get("instruction").asText(), e.get("input").asText(), e.get("output").asText()));
        }
        return ChatRequest.of(prompt(examples), TEMPERATURE, MAX_TOKENS);
    }

    @Override
    public List<ChatRequest> preview(Item item) {
        return List.of(request(item));
    }

    @Override
    public ObjectNode run(Item item, Teacher teacher) throws TeacherException {
        ChatResponse answer = teacher.chat(request(item));
        Parsed parsed = parse(answer.content(), "length".equals(answer.finishReason()));
        if (parsed.tasks().isEmpty() && !parsed.truncated()) {
            throw new TeacherException("round " + item.id() + ": the answer holds no complete numbered Instruction/Input/Output task", 200, null);
        }
        Map<Discard, Integer> discarded = new EnumMap<>(Discard.class);
        if (parsed.malformed() > 0) discarded.put(Discard.MALFORMED, parsed.malformed());
        if (parsed.truncated()) discarded.put(Discard.TRUNCATED, 1);
        ObjectNode record = JsonRecords.JSON.createObjectNode();
        record.put("round", item.source().get("round").asInt());
        ArrayNode instructions = record.putArray("instructions");
        Kept store = kept;
        for (Task t : parsed.tasks()) {
            Discard why = filter(t.instruction());
            if (why == null && !store.addIfNovel(Rouge.tokens(t.instruction()))) why = Discard.SIMILAR;
            if (why == null) instructions.add(taskNode(t));
            else discarded.merge(why, 1, Integer::sum);
        }
        ObjectNode counts = record.putObject("discarded");
        discarded.forEach((k, v) -> counts.put(k.key(), v));
        return record;
    }

    /** The kept tasks of every round, in round order, de-duplicated again against the seeds and each other. */
    @Override
    public JsonNode export(List<ObjectNode> records) {
        Kept store = new Kept();
        for (Task t : seeds) store.add(Rouge.tokens(t.instruction()));
        ArrayNode out = JsonRecords.JSON.createArrayNode();
        for (ObjectNode r : records) {
            for (JsonNode t : r.get("instructions")) {
                if (store.addIfNovel(Rouge.tokens(t.get("instruction").asText()))) {
                    out.addObject().put("instruction", t.get("instruction").asText()).put("input", t.get("input").asText())
                            .put("output", t.get("output").asText());
                }
            }
        }
        return out;
    }

    private static ObjectNode taskNode(Task t) {
        return JsonRecords.JSON.createObjectNode().put("instruction", t.instruction()).put("input", t.input()).put("output", t.output());
    }

    /** The first filter (before de-duplication) that drops {@code instruction}, or null. */
    static Discard filter(String instruction) {
        int words = instruction.split("\\s+").length;
        if (words <= 3 || words > 150) return Discard.LENGTH;
        if (BLACKLISTED.matcher(instruction).find()) return Discard.BLACKLIST;
        if (instruction.startsWith("Write a program")) return Discard.WRITE_A_PROGRAM;
        char first = instruction.charAt(0);
        if (PUNCTUATION.indexOf(first) >= 0) return Discard.PUNCTUATION;
        if (first > 127) return Discard.NON_ASCII;
        return null;
    }

    /** "4. Instruction:", "**4. Input:**", "4) Output:" at the start of a line. */
    private static final Pattern HEADER = Pattern.compile(
            "^[ \\t>#*]*(\\d+)\\s*[.)]\\s*(?:\\*\\*)?\\s*(Instruction|Input|Output)\\s*(?:\\*\\*)?\\s*:(?:\\*\\*)?[ \\t]*",
            Pattern.MULTILINE | Pattern.CASE_INSENSITIVE);

    /**
     * The tasks of a generation answer: numbered Instruction, Input and Output headers (markdown bold
     * allowed, "###" lines between tasks, prose before the first ignored); {@code <noinput>} is an
     * empty input. A block missing its Input or Output, or numbered apart, counts as malformed; when
     * {@code cutOff} (the answer hit the token limit) the last block is dropped as truncated.
     */
    public static Parsed parse(String answer, boolean cutOff) {
        List<String[]> blocks = new ArrayList<>(); // {number, instruction, input, output}; null parts missing
        Matcher m = HEADER.matcher(answer);
        List<int[]> spans = new ArrayList<>(); // header start, content start
        List<String[]> heads = new ArrayList<>(); // number, field
        while (m.find()) {
            spans.add(new int[] {m.start(), m.end()});
            heads.add(new String[] {m.group(1), m.group(2).toLowerCase(Locale.ROOT)});
        }
        int malformed = 0;
        String[] block = null;
        for (int i = 0; i < spans.size(); i++) {
            int end = i + 1 < spans.size() ? spans.get(i + 1)[0] : answer.length();
            String content = clean(answer.substring(spans.get(i)[1], end));
            String number = heads.get(i)[0], field = heads.get(i)[1];
            if (field.equals("instruction")) {
                if (block != null) blocks.add(block);
                block = new String[] {number, content, null, null};
            } else if (block == null || !block[0].equals(number) || block[field.equals("input") ? 2 : 3] != null) {
                malformed++; // an Input/Output without its Instruction, or twice
            } else {
                block[field.equals("input") ? 2 : 3] = content;
            }
        }
        if (block != null) blocks.add(block);
        boolean truncated = cutOff && !blocks.isEmpty();
        if (truncated) blocks.removeLast();
        List<Task> tasks = new ArrayList<>();
        for (String[] b : blocks) {
            if (b[1].isEmpty() || b[2] == null || b[3] == null) {
                malformed++;
                continue;
            }
            String input = b[2].equalsIgnoreCase("<noinput>") ? "" : b[2];
            tasks.add(new Task(b[1], input, b[3]));
        }
        return new Parsed(tasks, malformed, truncated);
    }

    /** "###" lines at the end of a header's text: the separator before the next task. */
    private static final Pattern TRAILING_SEPARATORS = Pattern.compile("(?:\\n[ \\t]*#+[ \\t]*)+$");

    /** A header's text, without the separator after it and surrounding blanks (an answer ending in "C#" keeps its '#'). */
    private static String clean(String content) {
        return TRAILING_SEPARATORS.matcher("\n" + content.strip()).replaceFirst("").strip();
    }

    /**
     * Token lists of kept instructions, appended to and never changed, shared by the threads running
     * rounds. A candidate is compared with a snapshot outside the lock (the long part), then, under the
     * lock, with what was added since, and added if still novel: no two kept instructions are similar.
     */
    static final class Kept {
        private final Object lock = new Object();
        private List<?>[] tokens = new List<?>[256]; // guarded by lock; entries below size never change
        private int size; // guarded by lock

        void add(List<String> t) {
            synchronized (lock) {
                if (size == tokens.length) tokens = java.util.Arrays.copyOf(tokens, size * 2);
                tokens[size++] = t;
            }
        }

        /** Adds {@code t} unless it has ROUGE-L F above {@value InstructionsJob#SIMILAR} with an instruction kept; whether it did. */
        boolean addIfNovel(List<String> t) {
            List<?>[] snapshot;
            int n;
            synchronized (lock) {
                snapshot = tokens;
                n = size;
            }
            if (similar(t, snapshot, 0, n)) return false;
            synchronized (lock) {
                if (similar(t, tokens, n, size)) return false;
                add(t);
                return true;
            }
        }

        @SuppressWarnings("unchecked")
        private static boolean similar(List<String> t, List<?>[] kept, int from, int to) {
            for (int i = from; i < to; i++) {
                List<String> k = (List<String>) kept[i];
                if (Rouge.fmeasureBound(t.size(), k.size()) > SIMILAR && Rouge.rougeL(k, t).fmeasure() > SIMILAR) return true;
            }
            return false;
        }
    }
}
