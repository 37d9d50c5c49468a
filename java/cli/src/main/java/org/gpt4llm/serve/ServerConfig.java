package org.gpt4llm.serve;

import java.time.Duration;

/**
 * How an {@link OpenAiServer} listens and what it accepts.
 *
 * @param modelId         the model name clients must send (and {@code /v1/models} lists)
 * @param host            the address to bind (127.0.0.1 keeps the server local)
 * @param port            the port to bind, 0 for an ephemeral one ({@link OpenAiServer#port()} tells which)
 * @param maxBodyBytes    larger request bodies are refused (413)
 * @param maxPromptTokens longer prompts are refused (400 context_length_exceeded); 0: the model's context less one token
 * @param maxTokens       the largest {@code max_tokens} a request may ask for
 * @param maxBatch        rows decoded together in one generator call
 * @param queue           rows that may wait for a batch; more are refused (503)
 * @param batchWait       how long the scheduler waits for more rows before starting a batch that is not full
 * @param shutdownTimeout how long {@link OpenAiServer#close()} lets in-flight requests finish
 * @param apiKey          the bearer token clients must send, or null for none
 */
public record ServerConfig(String modelId, String host, int port, int maxBodyBytes, int maxPromptTokens, int maxTokens,
                           int maxBatch, int queue, Duration batchWait, Duration shutdownTimeout, String apiKey) {
    public ServerConfig {
        if (modelId == null || modelId.isBlank()) throw new IllegalArgumentException("--model-id must not be empty");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
        if (maxBodyBytes < 1) throw new IllegalArgumentException("--max-body-bytes must be positive, got " + maxBodyBytes);
        if (maxPromptTokens < 0) throw new IllegalArgumentException("--max-prompt-tokens must not be negative, got " + maxPromptTokens);
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be positive, got " + maxTokens);
        if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be positive, got " + maxBatch);
        if (queue < 1) throw new IllegalArgumentException("--queue must be positive, got " + queue);
        if (batchWait.isNegative()) throw new IllegalArgumentException("--batch-wait-ms must not be negative, got " + batchWait);
        if (shutdownTimeout.isNegative()) throw new IllegalArgumentException("--shutdown-timeout must not be negative, got " + shutdownTimeout);
        if (apiKey != null && apiKey.isEmpty()) throw new IllegalArgumentException("the API key must not be empty");
    }

    /** The command's defaults: local, ephemeral port, 1 MiB bodies, 1024 new tokens, batches of 8, 64 waiting rows. */
    public static ServerConfig defaults(String modelId) {
        return new ServerConfig(modelId, "127.0.0.1", 0, 1 << 20, 0, 1024, 8, 64, Duration.ofMillis(5),
                Duration.ofSeconds(30), null);
    }

    public ServerConfig withPort(int port) {
        return new ServerConfig(modelId, host, port, maxBodyBytes, maxPromptTokens, maxTokens, maxBatch, queue, batchWait,
                shutdownTimeout, apiKey);
    }

    public ServerConfig withLimits(int maxBodyBytes, int maxPromptTokens, int maxTokens) {
        return new ServerConfig(modelId, host, port, maxBodyBytes, maxPromptTokens, maxTokens, maxBatch, queue, batchWait,
                shutdownTimeout, apiKey);
    }

    public ServerConfig withBatching(int maxBatch, int queue, Duration batchWait) {
        return new ServerConfig(modelId, host, port, maxBodyBytes, maxPromptTokens, maxTokens, maxBatch, queue, batchWait,
                shutdownTimeout, apiKey);
    }

    public ServerConfig withShutdownTimeout(Duration shutdownTimeout) {
        return new ServerConfig(modelId, host, port, maxBodyBytes, maxPromptTokens, maxTokens, maxBatch, queue, batchWait,
                shutdownTimeout, apiKey);
    }

    public ServerConfig withApiKey(String apiKey) {
        return new ServerConfig(modelId, host, port, maxBodyBytes, maxPromptTokens, maxTokens, maxBatch, queue, batchWait,
                shutdownTimeout, apiKey);
    }

    @Override
    public String toString() {
        // never print the key
        return "ServerConfig[model " + modelId + ", " + host + ":" + port + ", api key " + (apiKey == null ? "none" : "set") + "]";
    }
}
