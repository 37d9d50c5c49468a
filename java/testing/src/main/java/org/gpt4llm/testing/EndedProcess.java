package org.gpt4llm.testing;

import java.io.IOException;
import java.nio.file.Path;

/** A process that has ended, for tests of what a killed run leaves behind (temp names carry the writer's process id). */
public final class EndedProcess {
    private EndedProcess() {}

    /** The id of a process started and waited for here: it has ended. */
    public static long pid() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-version")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor();
        return p.pid();
    }
}
