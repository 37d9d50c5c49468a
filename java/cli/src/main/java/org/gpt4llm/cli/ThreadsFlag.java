package org.gpt4llm.cli;

import picocli.CommandLine.Option;

/**
 * {@code --threads}: the CPU threads a command computes with, every core unless given. Declared here
 * alone; a command that means something more by it says so in {@code SharedFlags.properties}.
 */
final class ThreadsFlag {
    @Option(names = "--threads", description = "CPU threads (default: all cores)")
    Integer threads;

    /** --threads, or one per core. */
    int count() {
        if (threads == null) return Runtime.getRuntime().availableProcessors();
        if (threads < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
        return threads;
    }

    /** --threads, checked, or null where it was not given: for a command that passes it on. */
    Integer given() {
        return threads == null ? null : count();
    }
}
