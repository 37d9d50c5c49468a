package org.gpt4llm.demo;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * One stage of the demo: the {@code gpt4llm} commands it runs, exactly as a user would type them, and
 * the files and folders they write.
 *
 * @param id        short name, also the name of the stage's done marker
 * @param title     what the stage does, for the console and the report
 * @param commands  each command's arguments after {@code gpt4llm}
 * @param outputs   what the commands write, removed before an unfinished stage runs again so that it
 *                  starts clean
 * @param resumable what the commands write and resume themselves (datagen's output logs, whose teacher
 *                  answers may have cost money): kept when an unfinished stage runs again, removed only by
 *                  {@code --fresh}
 */
public record DemoStage(String id, String title, List<List<String>> commands, List<Path> outputs, List<Path> resumable) {
    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_./:=,+@%-]+");

    public DemoStage {
        commands = commands.stream().map(List::copyOf).toList();
        outputs = List.copyOf(outputs);
        resumable = List.copyOf(resumable);
    }

    public DemoStage(String id, String title, List<List<String>> commands, List<Path> outputs) {
        this(id, title, commands, outputs, List.of());
    }

    /** {@code gpt4llm ARGS} as a shell line: arguments with spaces or shell characters single-quoted. */
    public static String commandLine(List<String> args) {
        StringBuilder b = new StringBuilder("gpt4llm");
        for (String a : args) b.append(' ').append(quote(a));
        return b.toString();
    }

    static String quote(String arg) {
        if (!arg.isEmpty() && PLAIN.matcher(arg).matches()) return arg;
        return "'" + arg.replace("'", "'\\''") + "'";
    }
}
