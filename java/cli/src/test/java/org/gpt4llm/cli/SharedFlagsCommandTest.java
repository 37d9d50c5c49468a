package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Field;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ResourceBundle;
import java.util.Set;
import java.util.function.BiConsumer;
import org.gpt4llm.testing.CliRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The flags that mean the same in every command ({@code --backend}, {@code --threads}, {@code --model},
 * {@code --out}) are declared once, in the mixins, so a command cannot declare them by hand; what each
 * means in a command is in {@code SharedFlags.properties}; their checks are one sentence.
 */
class SharedFlagsCommandTest {
    /**
     * The classes that may declare each shared flag: its mixin, and where the flag means something else
     * (each with why). A command that declares one by hand fails here.
     */
    private static final Map<String, Set<Class<?>>> DECLARED_BY = Map.of(
            "--backend", Set.of(BackendFlags.class,
                    BenchCommand.Kernels.class), // the CUDA device that times kernels (cuda or cuda-emu), no backend
            "--threads", Set.of(ThreadsFlag.class),
            "--model", Set.of(ModelFlag.class,
                    TrainingFlags.class,     // a key of the run's configuration, which --config may give
                    TeacherFlags.class,      // the model an API is asked
                    DemoCommand.class,       // the teacher's model name
                    EvalExactCommand.class,  // names of the models in the report
                    EvalRougeCommand.class), // likewise
            "--out", Set.of(OutFlag.class,
                    TrainingFlags.class,     // a key of the run's configuration, which --config may give
                    DemoCommand.class));     // a folder with a default, runs/demo

    private static final ResourceBundle DESCRIPTIONS = ResourceBundle.getBundle("org.gpt4llm.cli.SharedFlags");

    @Test
    void sharedFlagsAreDeclaredOnlyByTheirMixins() {
        List<String> wrong = new ArrayList<>();
        forEachOption((cmd, o) -> {
            Set<Class<?>> allowed = DECLARED_BY.get(o.longestName());
            if (allowed == null) return;
            Class<?> declaring = declaringClass(o);
            if (!allowed.contains(declaring)) wrong.add(cmd.getCommandSpec().qualifiedName() + " " + o.longestName() + " in " + declaring);
        });
        assertEquals(List.of(), wrong, "flags declared by hand instead of through their mixin");
    }

    @Test
    void everyOutOfTheMixinSaysWhatItHolds() throws Exception {
        String generic = OutFlag.class.getDeclaredField("out").getAnnotation(CommandLine.Option.class).description()[0];
        List<String> commands = new ArrayList<>();
        forEachOption((cmd, o) -> {
            if (!o.longestName().equals("--out") || declaringClass(o) != OutFlag.class) return;
            String name = cmd.getCommandSpec().qualifiedName();
            commands.add(name);
            assertFalse(o.description()[0].equals(generic), name + " --out has no description of its own in SharedFlags.properties");
        });
        assertTrue(commands.contains("gpt4llm generate") && commands.contains("gpt4llm eval stats scores"), commands.toString());
    }

    /** Each description of the file belongs to a flag that exists, and is the one its help shows. */
    @Test
    void everyDescriptionOfTheFileIsShown() {
        assertTrue(DESCRIPTIONS.keySet().size() >= 10, DESCRIPTIONS.keySet().toString());
        for (String key : DESCRIPTIONS.keySet()) {
            String[] path = key.split("\\.");
            CommandLine cmd = Main.commandLine();
            assertEquals("gpt4llm", path[0], key);
            for (int i = 1; i < path.length - 1; i++) {
                cmd = cmd.getSubcommands().get(path[i]);
                assertNotNull(cmd, key + ": no such command");
            }
            OptionSpec o = cmd.getCommandSpec().findOption("--" + path[path.length - 1]);
            assertNotNull(o, key + ": no such flag");
            assertArrayEquals(new String[] {DESCRIPTIONS.getString(key)}, o.description(), key);
        }
    }

    @Test
    void badThreadsAndBackendAreOneSentenceBeforeAnythingRuns(@TempDir Path dir) {
        CliRun r = CliRun.of("demo", "--quick", "--out", dir.toString(), "--threads", "0");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm demo: --threads must be at least 1, got 0", r.err().strip());
        r = CliRun.of("demo", "--quick", "--out", dir.toString(), "--backend", "gpu");
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals("gpt4llm demo: --backend gpu is not cpu, cuda or cuda-emu", r.err().strip());
        assertEquals("", r.out(), "no stage ran");
    }

    @Test
    void modelAndOutThatAreNotWhatTheCommandNeedsAreOneSentence(@TempDir Path dir) throws Exception {
        Path data = Files.writeString(dir.resolve("pairs.json"), "[]"), notAFolder = Files.writeString(dir.resolve("f.txt"), "x");
        CliRun r = CliRun.of("rm", "score", "--model", dir.toString(), "--data", data.toString(), "--out", dir.resolve("o.json").toString());
        assertEquals(2, r.code(), r.err());
        assertEquals("gpt4llm rm score: --model " + dir + " is not a reward model folder (it has neither config.json nor a"
                + " LoRA reward model's adapter_config.json)", r.err().strip());

        r = CliRun.of("eval", "stats", "scores", "--data", data.toString(), "--out", notAFolder.toString());
        assertEquals(2, r.code(), r.err());
        assertEquals("gpt4llm eval stats scores: --out " + notAFolder + " is a file, not a folder", r.err().strip());

        r = CliRun.of("datagen", "alpaca", "--in", data.toString(), "--out", dir.toString(), "--dry-run");
        assertEquals(2, r.code(), r.err());
        assertEquals("gpt4llm datagen alpaca: --out " + dir + " is a folder; it names the file to write", r.err().strip());

        Files.writeString(dir.resolve("tokenizer.json"), "{}");
        r = CliRun.of("init-tokenizer", "--data", notAFolder.toString(), "--vocab", "300", "--out", dir.toString());
        assertEquals(2, r.code(), r.err());
        assertEquals("gpt4llm init-tokenizer: --out " + dir + " already holds a tokenizer (tokenizer.json); pass --force to overwrite it",
                r.err().strip());
    }

    private static void forEachOption(BiConsumer<CommandLine, OptionSpec> action) {
        List<CommandLine> todo = new ArrayList<>(List.of(Main.commandLine()));
        int commands = 0;
        while (!todo.isEmpty()) {
            CommandLine cmd = todo.removeLast();
            commands++;
            for (OptionSpec o : cmd.getCommandSpec().options()) action.accept(cmd, o);
            todo.addAll(cmd.getSubcommands().values());
        }
        assertTrue(commands > 30, "walked " + commands + " commands");
    }

    private static Class<?> declaringClass(OptionSpec o) {
        assertTrue(o.userObject() instanceof Field, o.longestName() + " is not an annotated field");
        return ((Field) o.userObject()).getDeclaringClass();
    }
}
