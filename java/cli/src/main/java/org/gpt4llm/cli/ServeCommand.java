package org.gpt4llm.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.Generator;
import org.gpt4llm.generate.TextGenerator;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.serve.OpenAiServer;
import org.gpt4llm.serve.ServerConfig;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Serves a model over OpenAI's HTTP API until SIGTERM / Ctrl-C, which finishes in-flight requests first. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve a model over an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions).")
public final class ServeCommand implements Callable<Integer> {
    @Mixin
    ModelFlag model = new ModelFlag();

    @Option(names = "--adapter", description = "PEFT LoRA adapter folder to apply to the model")
    Path adapter;

    @Mixin
    BackendFlags backend = new BackendFlags();

    @Mixin
    WeightTypeFlag weights = new WeightTypeFlag();

    @Option(names = "--model-id", description = "the model name clients send (default: the model folder's name)")
    String modelId;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to bind (default: ${DEFAULT-VALUE}, local only)")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "port to listen on, 0 for any free one (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "largest request body (default: ${DEFAULT-VALUE})")
    int maxBodyBytes;

    @Option(names = "--max-prompt-tokens", defaultValue = "0",
            description = "longest prompt in tokens (default: 0, the model's context less one)")
    int maxPromptTokens;

    @Option(names = "--max-tokens", defaultValue = "1024", description = "largest max_tokens a request may ask for (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--max-batch", defaultValue = "8", description = "completions decoded together (default: ${DEFAULT-VALUE})")
    int maxBatch;

    @Option(names = "--queue", defaultValue = "64", description = "completions that may wait for a batch; more get 503 (default: ${DEFAULT-VALUE})")
    int queue;

    @Option(names = "--batch-wait-ms", defaultValue = "5", description = "how long a batch waits for more requests (default: ${DEFAULT-VALUE})")
    int batchWaitMs;

    @Option(names = "--shutdown-timeout", defaultValue = "30",
            description = "seconds in-flight requests get to finish on shutdown (default: ${DEFAULT-VALUE})")
    int shutdownTimeoutSeconds;

    @Option(names = "--api-key-env", description = "environment variable holding the key clients must send as 'Authorization: Bearer <key>'")
    String apiKeyEnv;

    @Override
    public Integer call() throws Exception {
        String apiKey = null;
        if (apiKeyEnv != null) {
            apiKey = System.getenv(apiKeyEnv);
            if (apiKey == null || apiKey.isEmpty()) throw new IllegalArgumentException("--api-key-env " + apiKeyEnv + " names an unset or empty variable");
        }
        if (batchWaitMs < 0) throw new IllegalArgumentException("--batch-wait-ms must not be negative, got " + batchWaitMs);
        if (shutdownTimeoutSeconds < 0) throw new IllegalArgumentException("--shutdown-timeout must not be negative, got " + shutdownTimeoutSeconds);
        Path modelDir = model.folder();
        String id = modelId != null ? modelId : modelDir.toAbsolutePath().normalize().getFileName().toString();
        ServerConfig config = new ServerConfig(id, host, port, maxBodyBytes, maxPromptTokens, maxTokens, maxBatch, queue,
                Duration.ofMillis(batchWaitMs), Duration.ofSeconds(shutdownTimeoutSeconds), apiKey);
        if (adapter != null && !Files.isRegularFile(adapter.resolve("adapter_config.json"))) {
            throw new IllegalArgumentException("--adapter " + adapter + " has no adapter_config.json");
        }
        TextGenerator generator = openGenerator(modelDir, adapter, backend.name(), backend.threads(), maxBatch,
                weights.frozen(backend.name(), modelDir));
        try {
            OpenAiServer server = OpenAiServer.start(generator, config);
            // SIGTERM and Ctrl-C close the server gracefully: in-flight requests finish first
            Runtime.getRuntime().addShutdownHook(new Thread(server::close, "gpt4llm-serve-shutdown"));
            System.out.println("serving " + id + " at " + server.baseUri() + " (Ctrl-C to stop)");
            server.awaitClose();
            return 0;
        } finally {
            if (generator instanceof AutoCloseable c) c.close();
        }
    }

    /**
     * The generator the server decodes with: the model in {@code model} (with {@code adapter}, when
     * given, applied), on backend {@code backend}.
     */
    static TextGenerator openGenerator(Path model, Path adapter, String backend, int threads, int maxBatch)
            throws IOException {
        return openGenerator(model, adapter, backend, threads, maxBatch, null);
    }

    /** As above, keeping the weights in {@code weights} (null: the backend's own type). */
    static TextGenerator openGenerator(Path model, Path adapter, String backend, int threads, int maxBatch, DType weights)
            throws IOException {
        Backend be = Backends.open(backend, threads, 0, weights);
        DecoderModel m = null;
        HfTokenizer tok = null;
        try {
            m = DecoderModels.load(be, model);
            if (adapter != null) m.loadAdapter(adapter);
            tok = Tokenizers.load(model);
            return new Served(new Generator(m, tok, maxBatch, 0), m, tok, be);
        } catch (IOException | RuntimeException e) {
            if (tok != null) tok.close();
            if (m != null) m.close();
            be.close();
            throw e;
        }
    }

    /** A generator over a loaded model that frees the model, tokenizer and backend when closed. */
    private record Served(Generator generator, DecoderModel model, HfTokenizer tok, Backend backend)
            implements TextGenerator, AutoCloseable {
        @Override
        public List<Completion> generate(List<GenerationRequest> requests, TokenListener listener) {
            return generator.generate(requests, listener);
        }

        @Override
        public Tokenizer tokenizer() {
            return tok;
        }

        @Override
        public int maxLength() {
            return generator.maxLength();
        }

        @Override
        public void close() {
            tok.close();
            model.close();
            backend.close();
        }
    }
}
