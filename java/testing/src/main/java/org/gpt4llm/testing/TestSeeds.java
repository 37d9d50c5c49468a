package org.gpt4llm.testing;

import java.util.Optional;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestInstanceFactoryContext;
import org.junit.jupiter.api.extension.TestInstancePreConstructCallback;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * Replayable randomness for every test. One run seed is taken from {@code -Dtests.seed} (decimal or
 * 0x-hex) or drawn at random; each test (each invocation of a parameterized one) draws its values
 * from a generator seeded by the run seed and the test's unique id, so a test sees the same values
 * whether it runs alone or with the whole suite. A failed test prints the line that replays it.
 *
 * <p>Registered for every module's tests through JUnit's extension auto-detection (the parent POM
 * turns it on); tests call {@link #next()} or {@link #random()} instead of seeding their own.
 */
public final class TestSeeds implements BeforeAllCallback, TestInstancePreConstructCallback, BeforeEachCallback,
        TestWatcher {
    /** The run seed: {@code -Dtests.seed} when given, else a fresh one. */
    public static final long RUN_SEED = runSeed();

    private static final InheritableThreadLocal<Source> CURRENT = new InheritableThreadLocal<>();
    private static final Source OUTSIDE_TESTS = new Source("", RUN_SEED);

    /** A generator tied to one test id; shared by the threads the test starts, hence synchronized. */
    private static final class Source {
        final String id;
        private final SplittableRandom rng;

        Source(String id, long seed) {
            this.id = id;
            this.rng = new SplittableRandom(seed);
        }

        synchronized long next() {
            return rng.nextLong();
        }
    }

    /** The next seed of the running test's sequence. */
    public static long next() {
        Source s = CURRENT.get();
        return (s != null ? s : OUTSIDE_TESTS).next();
    }

    /** A {@link Random} seeded from the running test's sequence. */
    public static Random random() {
        return new Random(next());
    }

    private static long runSeed() {
        String given = System.getProperty("tests.seed");
        if (given == null || given.isBlank()) return new SplittableRandom().nextLong();
        String s = given.strip();
        try {
            return s.startsWith("0x") || s.startsWith("0X") ? Long.parseUnsignedLong(s.substring(2), 16) : Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-Dtests.seed=" + given + " is not a decimal or 0x-hex 64-bit number");
        }
    }

    /** SplitMix64's finalizer over the run seed and the id's hash: ids that differ get unrelated seeds. */
    static long seedFor(String uniqueId) {
        long z = RUN_SEED ^ (0x9E3779B97F4A7C15L * (uniqueId.hashCode() + 0x632BE59BD9B4E019L));
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static void enter(ExtensionContext context) {
        String id = context.getUniqueId();
        Source s = CURRENT.get();
        if (s == null || !s.id.equals(id)) CURRENT.set(new Source(id, seedFor(id)));
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        enter(context);  // values drawn in @BeforeAll and static initialisers
    }

    @Override
    public ExtensionContextScope getTestInstantiationExtensionContextScope(ExtensionContext rootContext) {
        return ExtensionContextScope.TEST_METHOD;  // instance fields belong to the test that constructs them
    }

    @Override
    public void preConstructTestInstance(TestInstanceFactoryContext factoryContext, ExtensionContext context) {
        enter(context);
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        enter(context);  // the same sequence as the instance's fields when they were drawn for this test
    }

    @Override
    public void testFailed(ExtensionContext context, Throwable cause) {
        System.err.println(reproduceLine(context));
    }

    /** {@code reproduce with: bin/run-tests -pl MODULE -am -Dtest=CLASS#METHOD ... -Dtests.seed=0x...}. */
    static String reproduceLine(ExtensionContext context) {
        String test = context.getRequiredTestClass().getSimpleName()
                + context.getTestMethod().map(m -> "#" + m.getName()).orElse("");
        Optional<String> module = ProjectFiles.moduleOfWorkingDirectory();
        return "reproduce with: bin/run-tests" + module.map(m -> " -pl " + m + " -am").orElse("")
                + " -Dtest='" + test + "' -Dsurefire.failIfNoSpecifiedTests=false"
                + " -Dtests.seed=0x" + Long.toHexString(RUN_SEED) + "   (" + context.getDisplayName() + ")";
    }
}
