package org.gpt4llm.datagen.teacher;

import java.time.Duration;
import java.util.Objects;
import java.util.function.Function;

/**
 * How {@link OpenAiTeacher} talks to its API. Concurrency is not here: the caller's threads are the
 * concurrency, and the limits below hold however many there are.
 *
 * @param model                 the API's model name
 * @param apiBase               up to and excluding {@code /chat/completions}, e.g. {@code https://api.openai.com/v1}
 * @param keyVariable           the environment variable holding the API key; unset or empty: no key (local servers)
 * @param env                   environment lookup ({@code System::getenv}; tests pass a map)
 * @param requestsPerMinute     client-side limit, 0 for none
 * @param tokensPerMinute       client-side limit on prompt + completion tokens, 0 for none
 * @param timeout               per HTTP attempt, from sending to the whole body
 * @param maxAttempts           HTTP attempts per request, retries included
 * @param backoffBase           the first retry's backoff ceiling; it doubles per retry (full jitter)
 * @param backoffMax            the ceiling's ceiling
 * @param promptPricePer1K      dollars per 1000 prompt tokens
 * @param completionPricePer1K  dollars per 1000 completion tokens
 */
public record TeacherOptions(
        String model,
        String apiBase,
        String keyVariable,
        Function<String, String> env,
        int requestsPerMinute,
        long tokensPerMinute,
        Duration timeout,
        int maxAttempts,
        Duration backoffBase,
        Duration backoffMax,
        double promptPricePer1K,
        double completionPricePer1K) {

    public static final String DEFAULT_API_BASE = "https://api.openai.com/v1";
    public static final String DEFAULT_KEY_VARIABLE = "OPENAI_API_KEY";
    /** GPT-4 (8K context) prices when the paper's data was collected, dollars per 1K tokens. */
    public static final double GPT4_8K_PROMPT_PRICE = 0.03;

    public static final double GPT4_8K_COMPLETION_PRICE = 0.06;

    public TeacherOptions {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(apiBase, "apiBase");
        Objects.requireNonNull(keyVariable, "keyVariable");
        Objects.requireNonNull(env, "env");
        if (model.isBlank()) throw new IllegalArgumentException("the teacher model name is empty");
        if (!apiBase.startsWith("http://") && !apiBase.startsWith("https://"))
            throw new IllegalArgumentException("the API base must be an http:// or https:// URL, got \"" + apiBase + "\"");
        while (apiBase.endsWith("/")) apiBase = apiBase.substring(0, apiBase.length() - 1);
        if (requestsPerMinute < 0) throw new IllegalArgumentException("requests per minute must be >= 0 (0: no limit), got " + requestsPerMinute);
        if (tokensPerMinute < 0) throw new IllegalArgumentException("tokens per minute must be >= 0 (0: no limit), got " + tokensPerMinute);
        if (timeout.isNegative() || timeout.isZero()) throw new IllegalArgumentException("the request timeout must be positive, got " + timeout);
        if (maxAttempts < 1) throw new IllegalArgumentException("max attempts must be >= 1, got " + maxAttempts);
        if (backoffBase.isNegative() || backoffMax.isNegative() || backoffMax.compareTo(backoffBase) < 0)
            throw new IllegalArgumentException("backoff must satisfy 0 <= base <= max, got base " + backoffBase + ", max " + backoffMax);
        if (promptPricePer1K < 0 || completionPricePer1K < 0)
            throw new IllegalArgumentException("prices must be >= 0, got " + promptPricePer1K + " and " + completionPricePer1K);
    }

    /**
     * The defaults: OpenAI's API, key from OPENAI_API_KEY, no client-side limits, 120 s timeout,
     * 6 attempts, backoff 1 s doubling to 60 s, GPT-4-8K's prices.
     */
    public static TeacherOptions defaults(String model) {
        return new TeacherOptions(model, DEFAULT_API_BASE, DEFAULT_KEY_VARIABLE, System::getenv, 0, 0,
                Duration.ofSeconds(120), 6, Duration.ofSeconds(1), Duration.ofSeconds(60),
                GPT4_8K_PROMPT_PRICE, GPT4_8K_COMPLETION_PRICE);
    }

    public TeacherOptions withModel(String model) {
        return new TeacherOptions(model, apiBase, keyVariable, env, requestsPerMinute, tokensPerMinute, timeout,
                maxAttempts, backoffBase, backoffMax, promptPricePer1K, completionPricePer1K);
    }

    public TeacherOptions withApiBase(String apiBase) {
        return new TeacherOptions(model, apiBase, keyVariable, env, requestsPerMinute, tokensPerMinute, timeout,
                maxAttempts, backoffBase, backoffMax, promptPricePer1K, completionPricePer1K);
    }

    /** The key comes from {@code variable} as {@code env} looks it up. */
    public TeacherOptions withKey(String variable, Function<String, String> env) {
        return new TeacherOptions(model, apiBase, variable, env, requestsPerMinute, tokensPerMinute, timeout,
                maxAttempts, backoffBase, backoffMax, promptPricePer1K, completionPricePer1K);
    }

    public TeacherOptions withLimits(int requestsPerMinute, long tokensPerMinute) {
        return new TeacherOptions(model, apiBase, keyVariable, env, requestsPerMinute, tokensPerMinute, timeout,
                maxAttempts, backoffBase, backoffMax, promptPricePer1K, completionPricePer1K);
    }

    public TeacherOptions withTimeout(Duration timeout) {
        return new TeacherOptions(model, apiBase, keyVariable, env, requestsPerMinute, tokensPerMinute, timeout,
                maxAttempts, backoffBase, backoffMax, promptPricePer1K, completionPricePer1K);
    }

    public TeacherOptions withRetries(int maxAttempts, Duration backoffBase, Duration backoffMax) {
        return new TeacherOptions(model, apiBase, keyVariable, env, requestsPerMinute, tokensPerMinute, timeout,
                maxAttempts, backoffBase, backoffMax, promptPricePer1K, completionPricePer1K);
    }

    public TeacherOptions withPrices(double promptPricePer1K, double completionPricePer1K) {
        return new TeacherOptions(model, apiBase, keyVariable, env, requestsPerMinute, tokensPerMinute, timeout,
                maxAttempts, backoffBase, backoffMax, promptPricePer1K, completionPricePer1K);
    }

    /** Everything but the environment lookup (which could reveal the key). */
    @Override
    public String toString() {
        return "TeacherOptions[model=" + model + ", apiBase=" + apiBase + ", keyVariable=" + keyVariable
                + ", requestsPerMinute=" + requestsPerMinute + ", tokensPerMinute=" + tokensPerMinute
                + ", timeout=" + timeout + ", maxAttempts=" + maxAttempts + ", backoffBase=" + backoffBase
                + ", backoffMax=" + backoffMax + ", promptPricePer1K=" + promptPricePer1K
                + ", completionPricePer1K=" + completionPricePer1K + "]";
    }
}
