package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;

/** Test inputs and the answer a teacher double gives, so a test can tell which record answers which prompt. */
final class Doubles {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] WORDS = {"write", "a", "poem", "about", "the", "sea", "explain", "why", "sky", "is",
            "blue", "list", "three", "fruits", "translate", "into", "french", "summarize", "this", "text", "ünïcode", "日本"};

    private Doubles() {}

    /** {@code n} Alpaca records with random instructions, about a third with an input, as a JSON array. */
    static Path alpacaFile(Path file, int n, long seed) throws IOException {
        SplittableRandom rnd = new SplittableRandom(seed);
        ArrayNode arr = JSON.createArrayNode();
        for (int i = 0; i < n; i++) {
            arr.addObject().put("instruction", "task " + i + ": " + words(rnd, 3 + rnd.nextInt(8)))
                    .put("input", rnd.nextInt(3) == 0 ? words(rnd, 1 + rnd.nextInt(6)) + "\n\"quoted\"" : "")
                    .put("output", "old answer " + i);
        }
        JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), arr);
        return file;
    }

    private static String words(SplittableRandom rnd, int k) {
        StringBuilder sb = new StringBuilder();
        for (int j = 0; j < k; j++) sb.append(j == 0 ? "" : " ").append(WORDS[rnd.nextInt(WORDS.length)]);
        return sb.toString();
    }

    /** The teacher double's answer: a function of the whole prompt. */
    static String answer(String prompt) {
        return "answer " + Integer.toHexString(prompt.hashCode()) + " of " + prompt.length() + " chars";
    }

    static ChatResponse respond(ChatRequest request) {
        String prompt = request.messages().getLast().content();
        return new ChatResponse(answer(prompt), "stop", prompt.length() / 4, 7, 1);
    }

    /** The task number a prompt asks about ("task 17: ..."). */
    static int taskOf(ChatRequest request) {
        String p = request.messages().getLast().content();
        int at = p.indexOf("task ") + 5;
        return Integer.parseInt(p.substring(at, p.indexOf(':', at)));
    }
}
