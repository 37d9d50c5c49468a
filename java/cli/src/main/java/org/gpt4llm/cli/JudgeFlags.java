package org.gpt4llm.cli;

import org.gpt4llm.datagen.run.RunOptions;
import org.gpt4llm.datagen.teacher.OpenAiTeacher;
import org.gpt4llm.eval.judge.JudgePrompts.Mode;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The flags of {@code eval judge} and {@code eval bestofn} that pick the judge and how it is asked (datagen's API flags). */
final class JudgeFlags {
    @Option(names = "--mode", defaultValue = "vicuna",
            description = "vicuna (two scores on the first line, the paper's), pairwise ([[A]]/[[B]]/[[C]]) or single ([[rating]]) (default: ${DEFAULT-VALUE})")
    String mode;

    @Mixin
    TeacherFlags api = new TeacherFlags();

    Mode mode() {
        return switch (mode) {
            case "vicuna" -> Mode.VICUNA;
            case "pairwise" -> Mode.PAIRWISE;
            case "single" -> Mode.SINGLE;
            default -> throw new IllegalArgumentException("--mode must be vicuna, pairwise or single, got \"" + mode + "\"");
        };
    }

    RunOptions runOptions() {
        return api.runOptions();
    }

    OpenAiTeacher teacher() {
        return api.open(api.model);
    }
}
