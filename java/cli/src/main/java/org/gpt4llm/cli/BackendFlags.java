package org.gpt4llm.cli;

import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code --backend} and {@code --threads}: what a command computes on, opened here through {@link Backends}.
 * {@code --backend} stays null when not given, so that a training run's {@code --config} may name it.
 * Declared here alone; a command that means something more by them says so in {@code SharedFlags.properties}.
 */
final class BackendFlags {
    /** The backend of a command whose --backend was not given. */
    static final String DEFAULT = "cpu";

    @Mixin
    ThreadsFlag threads = new ThreadsFlag();

    @Option(names = "--backend", description = "cpu, cuda or cuda-emu (default " + DEFAULT + ")")
    String backend;

    /** --backend, checked, or {@link #DEFAULT}. */
    String name() {
        return backend != null ? Backends.checkName(backend) : DEFAULT;
    }

    /** --backend, checked, or null where it was not given: for a command that passes it on. */
    String given() {
        return backend == null ? null : Backends.checkName(backend);
    }

    /** --threads, or one per core. */
    int threads() {
        return threads.count();
    }

    /** The backend of --backend with --threads; no GPU, or a bad name, is one sentence. */
    Backend open() {
        return open(name());
    }

    /** Backend {@code name} (a training run's, resolved from --backend and --config) with --threads. */
    Backend open(String name) {
        return Backends.open(name, threads());
    }

    /** Backend {@code name} with --threads keeping the weights in {@code weights} (null: the backend's own). */
    Backend open(String name, org.gpt4llm.tensor.DType weights) {
        return Backends.open(name, threads(), 0, weights);
    }
}
