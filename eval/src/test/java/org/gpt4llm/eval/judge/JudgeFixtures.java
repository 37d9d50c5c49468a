package org.gpt4llm.eval.judge;


import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.datagen.teacher.TeacherOptions;
import org.gpt4llm.testing.SharedFiles;

/** What the judge tests share: the real Vicuna questions, answer files with markers a scripted judge can find, a teacher client. */
public final class JudgeFixtures {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JudgeFixtures() {}

    /** The paper's 80 Vicuna questions, in the shared data folder next to the project (skips when absent). */
    public static Path vicunaQuestions() {
        return SharedFiles.get("data/vicuna_question_80.jsonl");
    }

    /** A FastChat answer file of {@code model}: for each question id, an answer holding "{@code marker}-ANSWER q=<id>". */
    public static Path answers(Path dir, String model, String marker, List<Integer> questionIds) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int q : questionIds) {
            sb.append(JSON.writeValueAsString(Map.of("question_id", q, "answer_id", model + "-" + q, "model_id", model,
                    "text", "Here is my answer. " + marker + "-ANSWER q=" + q + " end."))).append('\n');
        }
        Path f = dir.resolve(model.replace(' ', '_') + ".jsonl");
        Files.writeString(f, sb.toString());
        return f;
    }

    private static final Pattern Q = Pattern.compile("(MODEL[A-Z0-9]*|REF)-ANSWER q=(\\d+)");

    /** Where the model's and the reference's answers stand in a judge prompt. */
    public record Seen(int question, String modelMarker, boolean modelFirst, boolean hasModel, boolean hasReference) {}

    public static Seen seen(String prompt) {
        Matcher m = Q.matcher(prompt);
        int q = -1, modelAt = -1, refAt = -1;
        String marker = null;
        while (m.find()) {
            q = Integer.parseInt(m.group(2));
            if (m.group(1).equals("REF")) refAt = refAt < 0 ? m.start() : refAt;
            else if (modelAt < 0) {
                modelAt = m.start();
                marker = m.group(1);
            }
        }
        return new Seen(q, marker, modelAt >= 0 && (refAt < 0 || modelAt < refAt), modelAt >= 0, refAt >= 0);
    }

    public static OpenAiTeacher teacher(String apiBase) {
        return new OpenAiTeacher(TeacherOptions.defaults("gpt-4").withApiBase(apiBase).withKey("NO_SUCH_KEY_VARIABLE", k -> null)
                .withTimeout(Duration.ofSeconds(10)).withRetries(2, Duration.ofMillis(10), Duration.ofMillis(50)));
    }

    public static PrintWriter quiet() {
        return new PrintWriter(new StringWriter());
    }
}
