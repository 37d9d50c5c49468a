package org.gpt4llm.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import org.gpt4llm.backend.cuda.device.CudaException;
import org.gpt4llm.datagen.files.FileErrors;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.nativelib.NativeLibraries;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code gpt4llm} command line; each stage of the pipeline is a subcommand. */
@Command(name = "gpt4llm", mixinStandardHelpOptions = true, version = "gpt4llm 0.1.0",
        // what the flags declared once in mixins (BackendFlags, ModelFlag, OutFlag, ...) mean in each command
        resourceBundle = "org.gpt4llm.cli.SharedFlags",
        description = "Instruction tuning with GPT-4: collect data, fine-tune, train reward models, decode, evaluate.",
        subcommands = {DoctorCommand.class, InitTokenizerCommand.class, InitModelCommand.class, SftCommand.class,
                RmCommand.class, DpoCommand.class, RftCommand.class, GenerateCommand.class, ServeCommand.class, ImportGgufCommand.class, EvalCommand.class,
                MergeLoraCommand.class, PlanCommand.class, BenchCommand.class, DemoCommand.class, GpuCheckCommand.class})
public final class Main implements Runnable {
    public static void main(String[] args) {
        try {
            System.exit(commandLine().execute(args));
        } catch (ExceptionInInitializerError e) {
            // a class refused its set-up on a bad setting (GPT4LLM_CPU_ISA): say that setting's sentence
            if (!(initializerCause(e) instanceof IllegalArgumentException bad)) throw e;
            System.err.println("gpt4llm: " + bad.getMessage());
            System.exit(2);
        }
    }

    /** What a class's failed set-up was: its cause; any other throwable itself. */
    static Throwable initializerCause(Throwable t) {
        return t instanceof ExceptionInInitializerError e && e.getCause() != null ? e.getCause() : t;
    }

    /** The configured command line: user errors become one sentence on stderr and exit code 2. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main()).addSubcommand(DatagenCommand.commandLine());
        // `bench --only step` names a section that is also a subcommand: read it as the option's value
        cl.getSubcommands().get("bench").setAllowSubcommandsAsOptionParameters(true);
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            // bad flags, bad files, missing native libraries, no GPU or out of GPU memory: one sentence, no stack trace
            if (ex instanceof IllegalArgumentException || ex instanceof IOException
                    || ex instanceof UncheckedIOException || ex instanceof CheckpointException
                    || ex instanceof NativeLibraries.NativeLibraryException || ex instanceof CudaException) {
                cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": " + sentence(ex));
                return 2;
            }
            throw ex;
        });
        return cl;
    }

    /**
     * What a user error says. A failure of the file system gets the operation, the path and the reason
     * (Java's own message for a folder it may not write is just the folder's path).
     */
    static String sentence(Exception ex) {
        if (ex instanceof IOException io) return FileErrors.sentence(io);
        // an UncheckedIOException made from its cause alone says only "java.io.IOException: ..."
        if (ex instanceof UncheckedIOException u && String.valueOf(u.getCause()).equals(u.getMessage())) {
            return FileErrors.sentence(u.getCause());
        }
        return ex.getMessage();
    }

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }
}
