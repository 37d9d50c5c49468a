package org.gpt4llm.datagen.demo;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.SplittableRandom;
import org.gpt4llm.datagen.teacher.FakeTeacherServer;
import org.gpt4llm.datagen.text.Rouge;

/**
 * The demo's teacher: an OpenAI-compatible chat API on the loopback address that answers by rule, not
 * a language model. It lists itself at {@code GET /v1/models} as {@value #MODEL} and names itself in
 * every reply ({@code model}, {@code system_fingerprint}). Its answer depends on the last user message:
 * <ul>
 *   <li>the Alpaca prompt ({@code datagen alpaca}): the {@link DemoTasks#solve} answer to its instruction
 *       and input, or {@link #NOT_A_DEMO_TASK} when the instruction is not one of the demo family's;</li>
 *   <li>the 1-10 rating prompt ({@code datagen compare}): the score on the first line and a one-line
 *       reason, by {@link #score};</li>
 *   <li>anything else: {@link #ABOUT}.</li>
 * </ul>
 * Usage counts are characters / 4, as the server it builds on ({@link FakeTeacherServer}) counts them.
 *
 * <p>A weaker teacher ({@link #start(int, double)} with a share above 0, standing in for a GPT-3.5-class
 * teacher beside a GPT-4-class one) answers that share of the tasks sloppily: a near miss, the answer
 * wrapped in chatter, or a wrong answer ({@link #sloppy}). Which tasks, and how, depends only on the task,
 * so every run of the same share answers alike. Its ratings are the strong teacher's.
 */
public final class DemoTeacherServer implements AutoCloseable {
    public static final String MODEL = "gpt4llm-demo-teacher";
    /** Who owns the model, as {@code /v1/models} says. */
    public static final String OWNED_BY = "gpt4llm (a rule-based demo teacher, not a language model)";
    /** The {@code system_fingerprint} of every reply. */
    public static final String FINGERPRINT = "gpt4llm-demo-rules-v1";
    /** The answer to an Alpaca prompt whose instruction is not a demo task. */
    public static final String NOT_A_DEMO_TASK = "The gpt4llm demo teacher only answers the tasks of its own rule-based"
            + " family (see gpt4llm demo tasks); it is not a language model.";
    /** The answer to anything that is neither an Alpaca prompt nor a rating prompt. */
    public static final String ABOUT = "This is the gpt4llm demo teacher, a rule-based stand-in for a GPT-4-class teacher,"
            + " not a language model. It answers the Alpaca prompt for its own task family (" + String.join(", ",
            DemoTasks.categories()) + ") and rates answers to those tasks 1-10 with the paper's rating prompt.";

    private static final String INSTRUCTION = "\n\n### Instruction:\n", INPUT = "\n\n### Input:\n", RESPONSE = "\n\n### Response:";
    private static final String QUESTION = "[Question]\n", ANSWER_START = "\n\n[The Start of Assistant's Answer]\n",
            ANSWER_END = "\n\n[The End of Assistant's Answer]";

    private final FakeTeacherServer server;

    private DemoTeacherServer(FakeTeacherServer server) {
        this.server = server;
    }

    /** Starts the server on 127.0.0.1:{@code port}; port 0 picks a free one. */
    public static DemoTeacherServer start(int port) throws IOException {
        return start(port, 0);
    }

    /**
     * Starts a teacher that answers the share {@code wrongShare} (0 to 1) of the tasks sloppily; 0 is the
     * strong teacher of {@link #start(int)}.
     */
    public static DemoTeacherServer start(int port, double wrongShare) throws IOException {
        checkShare(wrongShare);
        FakeTeacherServer s = new FakeTeacherServer(port).answer(m -> reply(m, wrongShare)).replyModel(MODEL)
                .systemFingerprint(wrongShare == 0 ? FINGERPRINT : FINGERPRINT + String.format(Locale.ROOT, "-wrong-%.2f", wrongShare))
                .listModel(MODEL, OWNED_BY);
        return new DemoTeacherServer(s.start());
    }

    /** A share of sloppy answers must lie in [0, 1]. */
    public static void checkShare(double wrongShare) {
        if (!(wrongShare >= 0 && wrongShare <= 1)) {
            throw new IllegalArgumentException("--wrong-share must be between 0 and 1, got " + wrongShare);
        }
    }

    /** The API base to give a client: {@code http://127.0.0.1:PORT/v1}. */
    public String apiBase() {
        return server.apiBase();
    }

    public int port() {
        return server.port();
    }

    /** Chat requests answered so far. */
    public int requestCount() {
        return server.requestCount();
    }

    @Override
    public void close() {
        server.close();
    }

    /** The teacher's reply to a last user message. */
    public static String reply(String lastUserMessage) {
        return reply(lastUserMessage, 0);
    }

    /** The reply of a teacher that answers the share {@code wrongShare} of the tasks sloppily. */
    public static String reply(String lastUserMessage, double wrongShare) {
        String m = lastUserMessage == null ? "" : lastUserMessage;
        Optional<String[]> task = alpacaTask(m);
        if (task.isPresent()) {
            Optional<String> right = DemoTasks.solve(task.get()[0], task.get()[1]);
            if (right.isEmpty()) return NOT_A_DEMO_TASK;
            // a position in [0, 1) and a kind of mistake fixed by the task alone
            long h = new SplittableRandom(DemoTasks.key(task.get()[0], task.get()[1]).hashCode()).nextLong();
            double at = (h >>> 11) * 0x1.0p-53;
            return at < wrongShare ? sloppy(right.get(), (int) (h & 3)) : right.get();
        }
        Optional<String[]> rated = ratedAnswer(m);
        if (rated.isPresent()) return rating(rated.get()[0], rated.get()[1]);
        return ABOUT;
    }

    /**
     * A weaker teacher's answer instead of {@code right}: by {@code kind}, the answer with its last
     * character dropped (a near miss), the answer wrapped in chatter, the answer reversed (wrong), or its
     * first character repeated (a slip).
     */
    static String sloppy(String right, int kind) {
        return switch (kind) {
            case 0 -> right.length() > 1 ? right.substring(0, right.length() - 1) : right + right;
            case 1 -> "The answer is " + right + ".";
            case 2 -> {
                String reversed = new StringBuilder(right).reverse().toString();
                yield reversed.equals(right) ? right + "?" : reversed;
            }
            default -> right.isEmpty() ? "?" : right.charAt(0) + right;
        };
    }

    /** {instruction, input} of an Alpaca prompt (input "" in the variant without one). */
    static Optional<String[]> alpacaTask(String prompt) {
        if (!prompt.startsWith("Below is an instruction that describes a task") || !prompt.endsWith(RESPONSE)) return Optional.empty();
        int i = prompt.indexOf(INSTRUCTION);
        if (i < 0) return Optional.empty();
        String body = prompt.substring(i + INSTRUCTION.length(), prompt.length() - RESPONSE.length());
        boolean withInput = prompt.startsWith("Below is an instruction that describes a task, paired with an input");
        int in = withInput ? body.lastIndexOf(INPUT) : -1;
        if (withInput && in < 0) return Optional.empty();
        return Optional.of(in < 0 ? new String[] {body, ""} : new String[] {body.substring(0, in), body.substring(in + INPUT.length())});
    }

    /** {question, answer} of the rating prompt. */
    static Optional<String[]> ratedAnswer(String prompt) {
        if (!prompt.startsWith(QUESTION)) return Optional.empty();
        int start = prompt.indexOf(ANSWER_START), end = prompt.lastIndexOf(ANSWER_END);
        if (start < 0 || end < start + ANSWER_START.length()) return Optional.empty();
        return Optional.of(new String[] {prompt.substring(QUESTION.length(), start), prompt.substring(start + ANSWER_START.length(), end)});
    }

    /** The rating reply: score on the first line, reason on the second. */
    static String rating(String question, String answer) {
        // the rating prompt's question is the instruction, then a blank line and the input when there is one
        int split = question.indexOf("\n\n");
        String instruction = split < 0 ? question : question.substring(0, split);
        String input = split < 0 ? "" : question.substring(split + 2);
        Optional<String> expected = DemoTasks.solve(instruction, input);
        if (expected.isEmpty()) {
            return "5\nNeutral score: the gpt4llm demo teacher only rates answers to its own rule-based task family.";
        }
        int score = score(expected.get(), answer);
        String reason = score == 10 ? "The answer is exactly right."
                : "The answer is wrong; the correct answer is \"" + expected.get() + "\" (closeness "
                        + String.format(Locale.ROOT, "%.2f", similarity(expected.get(), answer.strip())) + ").";
        return score + "\n" + reason;
    }

    /**
     * 10 when {@code answer} is {@code expected} (surrounding blanks aside), otherwise 1 + round(8 x the
     * character-level similarity), at most 9: a near miss scores higher than a wild guess, so the ratings
     * order answers by how close they come.
     */
    public static int score(String expected, String answer) {
        String a = answer.strip();
        if (a.equals(expected.strip())) return 10;
        return Math.min(9, 1 + (int) Math.round(8 * similarity(expected.strip(), a)));
    }

    /** The F-measure of the longest common subsequence of characters (ROUGE-L over characters): 2 LCS / (|a| + |b|). */
    static double similarity(String a, String b) {
        return Rouge.rougeL(chars(a), chars(b)).fmeasure();
    }

    private static List<String> chars(String s) {
        List<String> out = new ArrayList<>(s.length());
        s.codePoints().forEach(c -> out.add(Character.toString(c)));
        return out;
    }
}
