package org.gpt4llm.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.gpt4llm.data.Template;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.testing.ProjectFiles;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;
import org.w3c.dom.Node;

/**
 * The engine as another project uses it. {@code examples/fine-tune-and-generate}, a Maven project
 * outside the build that names the engine by its coordinates alone, is built and run by a child Maven
 * against a fresh local repository holding only what this build publishes that it needs (the parent
 * POM, gpt4llm-datagen and gpt4llm-engine, installed from this build's artifacts). Third-party
 * artifacts come from this build's own local repository, read as a file mirror: nothing is
 * downloaded, and nothing is written outside the test's folder. The consumer's dependency tree is the
 * engine's (its only direct dependency), with no libtorch, JMH or JUnit in it; the program generates
 * before and after training, its loss falls step by step, and the adapter it saves loads back.
 */
class ConsumerProjectTest {
    private static final long MAVEN_TIMEOUT_MINUTES = 5;

    @TempDir
    Path tmp;

    @Test
    void theExampleProjectBuildsOnTheInstalledEngineAndFineTunes() throws Exception {
        Path gguf = SharedFiles.get("models/stories260K.gguf");
        Path repo = tmp.resolve("repo");
        // offline, with file: repositories allowed: the mirror below is the only place artifacts come from
        List<String> mvn = List.of(mavenExecutable(), "-B", "-o", "-Daether.offline.protocols=file",
                "-s", mirrorSettings(tmp.resolve("settings.xml")).toString(), "-Dmaven.repo.local=" + repo);

        // what `mvn install` in the checkout puts into a local repository, as far as the consumer needs it
        install(repo, ProjectFiles.get("pom.xml"), null);
        install(repo, ProjectFiles.get("datagen/pom.xml"), artifactOf(JsonRecords.class));
        install(repo, ProjectFiles.get("java/engine/pom.xml"), artifactOf(Engine.class));

        Path consumer = copyProject(ProjectFiles.get("examples/fine-tune-and-generate"), tmp.resolve("consumer"));
        Path treeFile = tmp.resolve("dependency-tree.txt"), out = tmp.resolve("out");
        String log = maven(mvn, "consumer", List.of("-f", consumer.toString(),
                "dependency:tree", "-DoutputFile=" + treeFile,
                "compile", "exec:exec", "-Dexec.args=--model " + gguf + " --steps 6 --threads 2 --out " + out));
        checkTree(Files.readAllLines(treeFile));
        checkRun(log, gguf, out);
    }

    /** Only the engine is a direct dependency, and what it brings has none of the libraries it must not. */
    private static void checkTree(List<String> tree) {
        String all = String.join("\n", tree);
        assertTrue(tree.getFirst().startsWith("org.gpt4llm.examples:fine-tune-and-generate:jar:"), all);
        List<String> direct = tree.stream().filter(l -> l.startsWith("+- ") || l.startsWith("\\- ")).toList();
        assertEquals(1, direct.size(), "the engine is the consumer's only dependency:\n" + all);
        assertTrue(direct.getFirst().matches("\\\\- org\\.gpt4llm:gpt4llm-engine:jar:[^:]+:compile"), all);
        // the engine's own dependencies are there, so the absences below are not those of an empty tree
        assertTrue(all.contains("org.gpt4llm:gpt4llm-datagen:jar:"), all);
        assertTrue(all.contains("org.bytedeco:openblas:jar:"), all);
        assertTrue(all.contains("com.fasterxml.jackson.core:jackson-databind:jar:"), all);
        for (String line : tree) {
            assertFalse(line.contains("org.bytedeco:pytorch"), "libtorch in the engine's dependencies: " + line);
            assertFalse(line.contains("org.openjdk.jmh"), "JMH in the engine's dependencies: " + line);
            assertFalse(line.contains("junit"), "a test library in the engine's dependencies: " + line);
            assertTrue(!line.contains("org.gpt4llm:") || line.contains("org.gpt4llm:gpt4llm-engine:")
                    || line.contains("org.gpt4llm:gpt4llm-datagen:"), "a module beyond engine and datagen: " + line);
        }
    }

    /** The program's output, as printed through the child Maven, and the adapter it saved. */
    private static void checkRun(String log, Path gguf, Path out) throws IOException {
        assertTrue(log.contains("model: " + gguf + " (llama, 292,800 parameters) on cpu"), log);
        String before = printed(log, "before: ", "loss before training: "), after = printed(log, "after: ", "expected: ");
        assertFalse(before.isBlank(), "text generated before training");
        assertFalse(after.isBlank(), "text generated after training");
        Matcher m = Pattern.compile("(?m)^step (\\d+) loss ([0-9.]+) ").matcher(log);
        List<Double> losses = new ArrayList<>();
        while (m.find()) {
            assertEquals(losses.size() + 1, Integer.parseInt(m.group(1)));
            losses.add(Double.parseDouble(m.group(2)));
        }
        assertEquals(6, losses.size(), log);
        double start = Double.parseDouble(line(log, "loss before training: "));
        double end = Double.parseDouble(line(log, "loss after training: "));
        assertTrue(losses.getLast() < losses.getFirst(), "the step loss falls: " + losses);
        assertTrue(end < 0.8 * start, "the loss on the examples falls: " + start + " -> " + end);
        assertTrue(Files.isRegularFile(out.resolve("adapter/adapter_model.safetensors")), log);

        // the saved adapter gives the text the program printed after training
        try (Engine engine = Engine.open("cpu", 2);
             Model tuned = engine.load(out.resolve("model"), out.resolve("adapter"))) {
            String prompt = tuned.prompt(Template.ALPACA, "Tell me a story about Tim.", "");
            assertEquals(after, tuned.generate(prompt, SamplingParams.greedy(32)).text().strip());
        }
    }

    /**
     * Settings whose only repository is a mirror of everything onto the local repository of the build
     * running this test, which holds every third-party artifact the engine needs once it has built.
     */
    private static Path mirrorSettings(Path file) throws IOException {
        Path source = Path.of(System.getProperty("gpt4llm.maven.localRepository",
                Path.of(System.getProperty("user.home"), ".m2", "repository").toString()));
        if (!Files.isDirectory(source)) fail("no local Maven repository at " + source + " to take third-party artifacts from");
        // central redefined on the same folder: releases only (our snapshots must come from the fresh
        // repository) and no checksums (a local repository keeps none)
        String central = """
                <id>central</id>
                <url>%s</url>
                <releases><checksumPolicy>ignore</checksumPolicy></releases>
                <snapshots><enabled>false</enabled></snapshots>
                """.formatted(source.toUri());
        Files.writeString(file, """
                <settings>
                  <mirrors>
                    <mirror><id>build-local-repository</id><mirrorOf>*</mirrorOf><url>%s</url></mirror>
                  </mirrors>
                  <profiles>
                    <profile>
                      <id>build-local-repository</id>
                      <repositories><repository>%s</repository></repositories>
                      <pluginRepositories><pluginRepository>%s</pluginRepository></pluginRepositories>
                    </profile>
                  </profiles>
                  <activeProfiles><activeProfile>build-local-repository</activeProfile></activeProfiles>
                </settings>
                """.formatted(source.toUri(), central, central));
        return file;
    }

    /** The Maven that runs this build (its home is passed by the module's surefire configuration), else mvn on PATH. */
    private static String mavenExecutable() {
        String home = System.getProperty("gpt4llm.maven.home");
        return home != null && Files.isExecutable(Path.of(home, "bin", "mvn")) ? Path.of(home, "bin", "mvn").toString() : "mvn";
    }

    /**
     * Puts a module's POM, and its jar unless it is a POM-only module, where {@code mvn install} puts
     * them: {@code <groupId as folders>/<artifactId>/<version>/<artifactId>-<version>.pom|.jar}. Maven
     * takes a file in its local repository that it did not download for one installed there. (Copying
     * instead of running maven-install-plugin: a build that stopped at {@code verify} never fetched
     * that plugin, so it may be missing from the repository the child Maven reads.)
     */
    private static void install(Path repo, Path pom, Path jar) throws Exception {
        Element project = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(pom.toFile()).getDocumentElement();
        String artifactId = text(project, "artifactId").orElseThrow(() -> new AssertionError(pom + " has no artifactId"));
        String groupId = inherited(pom, project, "groupId"), version = inherited(pom, project, "version");
        Path dir = repo.resolve(groupId.replace('.', '/')).resolve(artifactId).resolve(version);
        Files.createDirectories(dir);
        Files.copy(pom, dir.resolve(artifactId + "-" + version + ".pom"));
        if (jar != null) Files.copy(jar, dir.resolve(artifactId + "-" + version + ".jar"));
    }

    /** A POM's groupId or version: its own, else its parent's. */
    private static String inherited(Path pom, Element project, String name) {
        return text(project, name)
                .or(() -> element(project, "parent").flatMap(parent -> text(parent, name)))
                .orElseThrow(() -> new AssertionError(pom + " has no " + name + ", nor has its parent element"));
    }

    private static Optional<Element> element(Element parent, String name) {
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) return Optional.of(e);
        }
        return Optional.empty();
    }

    private static Optional<String> text(Element parent, String name) {
        return element(parent, name).map(e -> e.getTextContent().strip());
    }

    /**
     * The jar a class was loaded from. Where the reactor put the module's classes folder on the class
     * path instead (a run that stopped before {@code package}), those classes are packed into a jar,
     * so the installed artifact is never older than the code under test.
     */
    private Path artifactOf(Class<?> type) throws IOException, URISyntaxException {
        Path location = Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (Files.isRegularFile(location)) return location;
        Path jar = tmp.resolve("jars").resolve(type.getSimpleName() + ".jar");
        Files.createDirectories(jar.getParent());
        ToolProvider tool = ToolProvider.findFirst("jar").orElseThrow(() -> new AssertionError("no jar tool in " + System.getProperty("java.home")));
        StringWriter err = new StringWriter();
        int rc = tool.run(new PrintWriter(err), new PrintWriter(err), "--create", "--file", jar.toString(), "-C", location.toString(), ".");
        assertEquals(0, rc, "packing " + location + ": " + err);
        return jar;
    }

    /** A copy of the project's sources, without build output, so that building it leaves the checkout alone. */
    private static Path copyProject(Path project, Path copy) throws IOException {
        try (Stream<Path> files = Files.walk(project)) {
            for (Path p : files.filter(p -> !project.relativize(p).startsWith("target")).toList()) {
                Path target = copy.resolve(project.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(target);
                else Files.copy(p, target);
            }
        }
        return copy;
    }

    /** Runs the child Maven on this JVM's JDK; its output goes to {@code <name>.log}, which is returned. */
    private String maven(List<String> mvn, String name, List<String> args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(mvn);
        cmd.addAll(args);
        Path logFile = tmp.resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(tmp.toFile()).redirectErrorStream(true)
                .redirectOutput(logFile.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        long t0 = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(MAVEN_TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            fail("mvn " + String.join(" ", args) + " ran over " + MAVEN_TIMEOUT_MINUTES + " minutes:\n" + Files.readString(logFile));
        }
        String log = Files.readString(logFile, StandardCharsets.UTF_8);
        System.out.printf("mvn %s: %.1f s%n", name, (System.nanoTime() - t0) / 1e9);
        assertEquals(0, p.exitValue(), "mvn " + String.join(" ", args) + " failed:\n" + log);
        return log;
    }

    /** The text printed after {@code label} at the start of a line, up to the line that starts with {@code next}. */
    private static String printed(String out, String label, String next) {
        Matcher m = Pattern.compile("(?ms)^" + Pattern.quote(label) + "(.*?)\\n" + Pattern.quote(next)).matcher(out);
        if (!m.find()) throw new AssertionError("no '" + label + "' followed by a line starting with '" + next + "' in:\n" + out);
        return m.group(1);
    }

    /** The text after {@code prefix} on the line that starts with it. */
    private static String line(String out, String prefix) {
        for (String l : out.split("\n")) if (l.startsWith(prefix)) return l.substring(prefix.length());
        throw new AssertionError("no line starting with '" + prefix + "' in:\n" + out);
    }
}
