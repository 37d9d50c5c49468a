package org.gpt4llm.datagen.run;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.datagen.job.AlpacaJob;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.FileTrees;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code datagen --export} killed with SIGKILL at random moments while it writes the released file
 * (a millisecond or two after its temp file shows): the next export leaves no temp file behind and
 * writes the whole file.
 */
class KilledExportTest {
    private static final int ITEMS = 1000;

    private static JobRunner runner(Path input, Path out) throws Exception {
        Job job = new AlpacaJob(0.7, 64);
        return new JobRunner(job, "double", job.read(input), out, new PrintWriter(System.err, true));
    }

    /** The process to kill: exports {@code args[1]} (the output of {@code args[0]}) into {@code args[2]} over and over. */
    public static void main(String[] args) throws Exception {
        JobRunner runner = runner(Path.of(args[0]), Path.of(args[1]));
        for (int i = 0; ; i++) {
            runner.export(Path.of(args[2]));
            if (i == 0) System.out.println("exporting");
        }
    }

    @Test
    void killedWhileExportingTheNextExportIsWholeAndAlone(@TempDir Path dir) throws Exception {
        Path input = Doubles.alpacaFile(dir.resolve("in.json"), ITEMS, TestSeeds.next());
        Path out = dir.resolve("answers.jsonl"), expected = dir.resolve("expected.json");
        JobRunner runner = runner(input, out);
        runner.run(Doubles::respond, RunOptions.defaults().withConcurrency(8), false);
        assertEquals(0, runner.export(expected));

        Path release = Files.createDirectories(dir.resolve("release")), export = release.resolve("alpaca_gpt4_data.json");
        Random random = TestSeeds.random();
        int leftBehind = 0, kill = 0;
        // three kills, and more (up to 20) until one lands while the temp file is there: how long an export
        // takes against the moment of the kill depends on the machine's load
        while (kill < 3 || (leftBehind == 0 && kill < 20)) {
            kill++;
            Path log = dir.resolve("export" + kill + ".log");
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                    System.getProperty("java.class.path"), KilledExportTest.class.getName(), input.toString(), out.toString(),
                    export.toString()).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (p.isAlive() && !Files.readString(log).contains("exporting") && System.nanoTime() < deadline) Thread.sleep(2);
            while (p.isAlive() && FileTrees.names(release).size() < 2 && System.nanoTime() < deadline) Thread.onSpinWait();
            Thread.sleep(random.nextInt(3));
            assertTrue(p.isAlive(), "export " + kill + " ended before it could be killed: " + Files.readString(log));
            p.destroyForcibly().waitFor();
            if (FileTrees.names(release).size() > 1) leftBehind++;
        }
        assertTrue(leftBehind > 0, "none of " + kill + " kills landed while the temp file was there");

        assertEquals(0, runner.export(export));
        assertEquals(List.of("alpaca_gpt4_data.json"), FileTrees.names(release), "no temp file left behind");
        assertArrayEquals(Files.readAllBytes(expected), Files.readAllBytes(export), "the whole export");
        FilePermissions.assertUmaskDefault(export);
    }

}
