package org.gpt4llm.eval.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * Headless Chromium driven through chromedriver's W3C WebDriver HTTP protocol: just the commands
 * our page tests need (navigate, find, click, text, title, source). Chromium and chromedriver are
 * the Debian packages installed by {@code bin/lib/browser-deps.sh} (run by {@code bin/run-tests}).
 */
public final class HeadlessChrome implements AutoCloseable {
    public static final Path CHROMIUM = Path.of("/usr/bin/chromium");
    public static final Path CHROMEDRIVER = Path.of("/usr/bin/chromedriver");
    private static final String ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process driver;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final URI base;
    private final String session;

    /** A handle on one element of the current page. */
    public record Element(String id) {}

    public static boolean installed() {
        return Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
    }

    public HeadlessChrome(Path tempDir) throws IOException, InterruptedException {
        if (!installed()) {
            throw new IllegalStateException(CHROMIUM + " or " + CHROMEDRIVER
                    + " is missing: run bin/lib/browser-deps.sh (bin/run-tests runs it) to install Debian's chromium and chromium-driver");
        }
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        driver = new ProcessBuilder(CHROMEDRIVER.toString(), "--port=" + port)
                .redirectErrorStream(true).redirectOutput(tempDir.resolve("chromedriver.log").toFile()).start();
        base = URI.create("http://127.0.0.1:" + port + "/");
        try {
            waitReady();
            ObjectNode caps = JSON.createObjectNode();
            ObjectNode always = caps.putObject("capabilities").putObject("alwaysMatch");
            always.put("browserName", "chrome");
            ObjectNode chrome = always.putObject("goog:chromeOptions");
            chrome.put("binary", CHROMIUM.toString());
            chrome.putArray("args").add("--headless=new").add("--no-sandbox").add("--disable-gpu")
                    .add("--disable-dev-shm-usage").add("--user-data-dir=" + tempDir.resolve("chrome-profile"));
            session = call("POST", "session", caps).get("sessionId").asText();
        } catch (IOException | RuntimeException | InterruptedException e) {
            driver.destroyForcibly();
            throw e;
        }
    }

    public void navigate(URI url) throws IOException, InterruptedException {
        command("POST", "url", JSON.createObjectNode().put("url", url.toString()));
    }

    public String currentUrl() throws IOException, InterruptedException {
        return command("GET", "url", null).asText();
    }

    public String title() throws IOException, InterruptedException {
        return command("GET", "title", null).asText();
    }

    public String pageSource() throws IOException, InterruptedException {
        return command("GET", "source", null).asText();
    }

    /** The first element matching a CSS selector, empty when there is none ("no such element"). */
    public Optional<Element> find(String css) throws IOException, InterruptedException {
        ObjectNode by = JSON.createObjectNode().put("using", "css selector").put("value", css);
        JsonNode v = send("POST", "session/" + session + "/element", by);
        if (v.has("error")) {
            if (v.get("error").asText().equals("no such element")) return Optional.empty();
            throw new IOException("WebDriver find " + css + ": " + v.get("error").asText() + ": " + v.path("message").asText());
        }
        return Optional.of(new Element(v.get(ELEMENT).asText()));
    }

    /** The first element matching a CSS selector, waiting up to 5 s for it (a click's page load may still be under way). */
    public Element get(String css) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (true) {
            Optional<Element> e = find(css);
            if (e.isPresent()) return e.get();
            if (System.nanoTime() > deadline) throw new AssertionError("no element " + css + " on " + safeUrl());
            Thread.sleep(20);
        }
    }

    public void click(Element e) throws IOException, InterruptedException {
        command("POST", "element/" + e.id() + "/click", JSON.createObjectNode());
    }

    /** Types text into an input. */
    public void type(Element e, String text) throws IOException, InterruptedException {
        command("POST", "element/" + e.id() + "/value", JSON.createObjectNode().put("text", text));
    }

    /** Clicks something that loads a new page (a link, a submit button) and waits until that page has loaded. */
    public void clickAndWaitForPage(Element e) throws IOException, InterruptedException {
        execute("window.oldPage = true");
        click(e);
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!execute("return window.oldPage === undefined && document.readyState === 'complete'").asBoolean()) {
            if (System.nanoTime() > deadline) throw new AssertionError("clicking did not load a new page; still on " + safeUrl());
            Thread.sleep(20);
        }
    }

    public String text(Element e) throws IOException, InterruptedException {
        return command("GET", "element/" + e.id() + "/text", null).asText();
    }

    public boolean selected(Element e) throws IOException, InterruptedException {
        return command("GET", "element/" + e.id() + "/selected", null).asBoolean();
    }

    /** The result of a synchronous script (for reading state the page does not show, e.g. an image's size). */
    public JsonNode execute(String script) throws IOException, InterruptedException {
        ObjectNode body = JSON.createObjectNode().put("script", script);
        body.putArray("args");
        return command("POST", "execute/sync", body);
    }

    private String safeUrl() {
        try {
            return currentUrl();
        } catch (IOException | InterruptedException e) {
            return "the current page";
        }
    }

    private JsonNode command(String method, String path, JsonNode body) throws IOException, InterruptedException {
        return call(method, "session/" + session + "/" + path, body);
    }

    private JsonNode call(String method, String path, JsonNode body) throws IOException, InterruptedException {
        JsonNode v = send(method, path, body);
        if (v.has("error")) throw new IOException("WebDriver " + method + " " + path + ": " + v.get("error").asText() + ": " + v.path("message").asText());
        return v;
    }

    /** The "value" of a WebDriver reply (errors too are a value with an "error" field). */
    private JsonNode send(String method, String path, JsonNode body) throws IOException, InterruptedException {
        HttpRequest.Builder req = HttpRequest.newBuilder(base.resolve(path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json; charset=utf-8");
        req.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        HttpResponse<String> res = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode v = JSON.readTree(res.body()).get("value");
        return v == null ? JSON.nullNode() : v;
    }

    private void waitReady() throws IOException, InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            try {
                if (send("GET", "status", null).path("ready").asBoolean()) return;
            } catch (IOException notYet) {
                if (System.nanoTime() > deadline) throw new IOException("chromedriver did not start on " + base, notYet);
            }
            if (!driver.isAlive()) throw new IOException("chromedriver exited with " + driver.exitValue());
            if (System.nanoTime() > deadline) throw new IOException("chromedriver at " + base + " never became ready");
            Thread.sleep(50);
        }
    }

    @Override
    public void close() throws InterruptedException {
        try {
            send("DELETE", "session/" + session, null);
        } catch (IOException ignored) {
            // the browser is going away either way
        } finally {
            driver.destroy();
            if (!driver.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) driver.destroyForcibly();
        }
    }
}
