package org.gpt4llm.datagen.teacher;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/** Running totals of a teacher's traffic and cost; safe to update from many threads. */
public final class Usage {
    private final String model;
    private final double promptPricePer1K;
    private final double completionPricePer1K;
    private final LongAdder attempts = new LongAdder();
    private final LongAdder answered = new LongAdder();
    private final LongAdder retries = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder completionTokens = new LongAdder();
    private final ConcurrentHashMap<String, LongAdder> errors = new ConcurrentHashMap<>();

    public Usage(String model, double promptPricePer1K, double completionPricePer1K) {
        this.model = model;
        this.promptPricePer1K = promptPricePer1K;
        this.completionPricePer1K = completionPricePer1K;
    }

    /**
     * A copy of the totals (each counter read once).
     *
     * @param requests       HTTP attempts sent, retries included
     * @param answered       requests that got their answer
     * @param retries        attempts after a request's first
     * @param failures       requests that failed for good
     * @param failedAttempts failed attempts by kind: the HTTP status, "timeout", "connection" or "malformed"
     */
    public record Snapshot(
            String model,
            long requests,
            long answered,
            long retries,
            long failures,
            long promptTokens,
            long completionTokens,
            double promptPricePer1K,
            double completionPricePer1K,
            Map<String, Long> failedAttempts) {

        public Snapshot {
            failedAttempts = Map.copyOf(failedAttempts);
        }

        public double cost() {
            return promptTokens / 1000.0 * promptPricePer1K + completionTokens / 1000.0 * completionPricePer1K;
        }

        /** The usage.json form: counters, tokens, prices, cost in dollars, and failed attempts by kind. */
        public ObjectNode toJson() {
            ObjectNode json = JsonNodeFactory.instance.objectNode();
            json.put("model", model);
            json.put("requests", requests);
            json.put("answered", answered);
            json.put("retries", retries);
            json.put("failures", failures);
            json.put("prompt_tokens", promptTokens);
            json.put("completion_tokens", completionTokens);
            json.put("total_tokens", promptTokens + completionTokens);
            json.put("price_per_1k_prompt", promptPricePer1K);
            json.put("price_per_1k_completion", completionPricePer1K);
            json.put("cost_usd", cost());
            ObjectNode byKind = json.putObject("failed_attempts");
            new TreeMap<>(failedAttempts).forEach(byKind::put);
            return json;
        }

        /** One line: "12 requests (10 answered, 1 failed, 2 retries), 1200 prompt + 800 completion tokens, $0.0840". */
        public String summary() {
            return String.format(Locale.ROOT, "%d requests (%d answered, %d failed, %d retries), %d prompt + %d completion tokens, $%.4f",
                    requests, answered, failures, retries, promptTokens, completionTokens, cost());
        }
    }

    /** An HTTP attempt was sent. */
    void attempt() {
        attempts.increment();
    }

    /** An attempt failed in a way worth retrying, and will be retried. */
    void retry() {
        retries.increment();
    }

    /** An attempt failed; {@code kind}: the HTTP status, or "timeout", "connection", "malformed". */
    void failedAttempt(String kind) {
        errors.computeIfAbsent(kind, k -> new LongAdder()).increment();
    }

    /** A request got its answer. */
    void answered(int prompt, int completion) {
        answered.increment();
        promptTokens.add(prompt);
        completionTokens.add(completion);
    }

    /** A request failed for good. */
    void failed() {
        failures.increment();
    }

    public Snapshot snapshot() {
        Map<String, Long> byKind = new TreeMap<>();
        errors.forEach((kind, n) -> byKind.put(kind, n.sum()));
        return new Snapshot(model, attempts.sum(), answered.sum(), retries.sum(), failures.sum(), promptTokens.sum(),
                completionTokens.sum(), promptPricePer1K, completionPricePer1K, byKind);
    }
}
