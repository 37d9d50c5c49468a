package org.gpt4llm.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.gpt4llm.testing.fixture.RunFixture;
import org.junit.jupiter.api.Test;

/**
 * A failing random test prints the line that replays it, and {@code -Dtests.seed} from that line makes
 * it draw the same values again: the fixture runs in child JVMs as the build runs tests.
 */
class TestSeedsTest {
    private static final Pattern DRAWN = Pattern.compile("(?m)^drawn (-?\\d+) (-?\\d+) (-?\\d+)$");
    private static final Pattern REPRODUCE = Pattern.compile(
            "(?m)^reproduce with: bin/run-tests .*-Dtest='FailingRandomCheck#drawsAndFails' .*-Dtests\\.seed=(0x[0-9a-f]+)");

    private record Run(String drawn, String seed) {}

    private static Run run(String seed) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        if (seed != null) cmd.add("-Dtests.seed=" + seed);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), RunFixture.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(2, TimeUnit.MINUTES), "the child JVM finishes");
        assertTrue(out.contains("failures 1"), "the fixture ran and failed:\n" + out);
        Matcher d = DRAWN.matcher(out), r = REPRODUCE.matcher(out);
        assertTrue(d.find(), "the fixture printed what it drew:\n" + out);
        assertTrue(r.find(), "the failure printed how to reproduce it:\n" + out);
        return new Run(d.group(1) + " " + d.group(2) + " " + d.group(3), r.group(1));
    }

    @Test
    void aFailurePrintsItsSeedAndTheSeedReplaysIt() throws Exception {
        Run first = run(null);
        Run replay = run(first.seed());
        assertEquals(first.seed(), replay.seed(), "the replay names the seed it was given");
        assertEquals(first.drawn(), replay.drawn(), "the replay draws the same values (field, method, Random)");
        Run other = run(first.seed().equals("0x1") ? "0x2" : "0x1");
        assertNotEquals(first.drawn(), other.drawn(), "another seed draws other values");
    }

    @Test
    void idsThatDifferGetUnrelatedSeeds() {
        long a = TestSeeds.seedFor("[engine:junit-jupiter]/[class:A]/[method:m()]");
        long b = TestSeeds.seedFor("[engine:junit-jupiter]/[class:A]/[method:n()]");
        assertNotEquals(a, b);
        assertTrue(Long.bitCount(a ^ b) > 10, "seeds of neighbouring ids differ in many bits: " + Long.toHexString(a ^ b));
    }
}
