package org.gpt4llm.gpucheck;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;
import org.xml.sax.helpers.DefaultHandler;

/**
 * The test classes of a run as Maven surefire reports them: one {@code TEST-<class>.xml} per class in
 * a reports folder, a {@code <testsuite>} with its counts and time, its JVM's system properties, and
 * a {@code <testcase>} per test whose {@code <failure>}, {@code <error>} or {@code <skipped>} child
 * says how it ended.
 */
public final class SurefireSuites {
    private SurefireSuites() {}

    /** A test that did not pass: its method (with the invocation index of a parameterized one) and the first line of why. */
    public record Problem(String test, String kind, String message) {}

    /**
     * One test class: {@code name} is its fully qualified name; {@code targets} the
     * {@code gpt4llm.targets} property its JVM ran with (null without one); {@code skipReason} the first
     * line of why its first skipped test was skipped (null when none was).
     */
    public record Suite(String name, int tests, int failures, int errors, int skipped, double seconds, String targets,
                        List<Problem> problems, String skipReason) {
        public String simpleName() {
            return name.substring(name.lastIndexOf('.') + 1);
        }

        /** Tests that ran to an end, passed or not. */
        public int executed() {
            return tests - skipped;
        }

        public boolean passed() {
            return failures == 0 && errors == 0 && executed() > 0;
        }
    }

    /** Every {@code TEST-*.xml} of the folders, in the order of the folders and then of the file names. */
    public static List<Suite> read(List<Path> folders) throws IOException {
        List<Suite> out = new ArrayList<>();
        for (Path folder : folders) {
            if (!Files.isDirectory(folder)) throw new IOException("surefire reports folder " + folder + " does not exist");
            List<Path> files;
            try (Stream<Path> s = Files.list(folder)) {
                files = s.filter(f -> f.getFileName().toString().matches("TEST-.*\\.xml")).sorted().toList();
            }
            for (Path f : files) out.add(readSuite(f));
        }
        return out;
    }

    /** One report file; an unreadable or malformed one is named in one sentence. */
    public static Suite readSuite(Path file) throws IOException {
        Element root;
        try {
            root = parser().parse(file.toFile()).getDocumentElement();
        } catch (SAXException e) {
            throw new IOException(file + " is not a well-formed surefire report: " + e.getMessage(), e);
        }
        if (!root.getTagName().equals("testsuite")) {
            throw new IOException(file + " is not a surefire report: its root element is <" + root.getTagName()
                    + ">, not <testsuite>");
        }
        String targets = null;
        List<Problem> problems = new ArrayList<>();
        String skipReason = null;
        for (Node n = root.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (!(n instanceof Element e)) continue;
            if (e.getTagName().equals("properties")) {
                NodeList props = e.getElementsByTagName("property");
                for (int i = 0; i < props.getLength(); i++) {
                    Element p = (Element) props.item(i);
                    if (p.getAttribute("name").equals("gpt4llm.targets")) targets = p.getAttribute("value");
                }
            } else if (e.getTagName().equals("testcase")) {
                for (Node c = e.getFirstChild(); c != null; c = c.getNextSibling()) {
                    if (c instanceof Element end && List.of("failure", "error").contains(end.getTagName())) {
                        problems.add(new Problem(e.getAttribute("name"), end.getTagName(), firstLine(end)));
                    } else if (c instanceof Element end && end.getTagName().equals("skipped") && skipReason == null) {
                        String why = end.hasAttribute("message") ? end.getAttribute("message") : firstLine(end);
                        // JUnit's "TestAbortedException: Assumption failed: <why>" read as the why
                        skipReason = why.lines().findFirst().orElse("").strip()
                                .replaceFirst("^[\\w.$]+Exception: ", "").replaceFirst("^Assumption failed: ", "");
                    }
                }
            }
        }
        return new Suite(required(file, root, "name"), count(file, root, "tests"), count(file, root, "failures"),
                count(file, root, "errors"), count(file, root, "skipped"), seconds(file, root), targets, problems,
                skipReason);
    }

    /** The failure's message attribute, else the first line of its text (the exception surefire printed). */
    private static String firstLine(Element end) {
        String m = end.getAttribute("message");
        if (m.isBlank()) m = end.getTextContent().strip();
        if (m.isBlank()) m = end.getAttribute("type");
        int nl = m.indexOf('\n');
        return (nl < 0 ? m : m.substring(0, nl)).strip();
    }

    private static String required(Path file, Element root, String attribute) throws IOException {
        if (!root.hasAttribute(attribute)) throw new IOException(file + ": <testsuite> has no " + attribute + " attribute");
        return root.getAttribute(attribute);
    }

    private static int count(Path file, Element root, String attribute) throws IOException {
        String v = required(file, root, attribute);
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IOException(file + ": <testsuite " + attribute + "=\"" + v + "\"> is not a count");
        }
    }

    /** Surefire writes the time with a decimal point, and with grouping commas above 999 seconds. */
    private static double seconds(Path file, Element root) throws IOException {
        String v = required(file, root, "time");
        try {
            return Double.parseDouble(v.replace(",", ""));
        } catch (NumberFormatException e) {
            throw new IOException(file + ": <testsuite time=\"" + v + "\"> is not a number of seconds");
        }
    }

    /** A parser that reads no DTDs or external entities: the reports are data, never instructions to fetch anything. */
    private static DocumentBuilder parser() throws IOException {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setXIncludeAware(false);
            f.setExpandEntityReferences(false);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(new DefaultHandler() {
                @Override
                public void fatalError(SAXParseException e) throws SAXException {
                    throw e;  // into the IOException that names the file, not onto stderr as well
                }
            });
            return b;
        } catch (ParserConfigurationException e) {
            throw new IOException("no XML parser for surefire reports: " + e.getMessage(), e);
        }
    }
}
