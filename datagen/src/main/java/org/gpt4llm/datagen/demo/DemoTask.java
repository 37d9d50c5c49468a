package org.gpt4llm.datagen.demo;

/**
 * One task of the demo's rule-based family: an Alpaca instruction and input with the one answer
 * {@link DemoTasks#solve} gives it. {@code category} names the rule (see {@link DemoTasks#categories}).
 */
public record DemoTask(String id, String category, String instruction, String input, String answer) {
    /** The key that tells tasks apart: instruction and input (see {@link DemoTasks#key}). */
    public String key() {
        return DemoTasks.key(instruction, input);
    }
}
