package org.gpt4llm.eval.hhh;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.eval.report.Html;
import org.gpt4llm.eval.report.ReportFiles;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.PieChart;

/**
 * The human-evaluation web page, served by the JDK's HTTP server on 127.0.0.1 only. Plain HTML
 * forms, no script, nothing fetched from elsewhere (it works offline). Every text from the data
 * files goes through {@link #escape}, and a Content-Security-Policy forbids scripts besides.
 *
 * <p>Pages: {@code /?rater=R} progress and the task list, {@code /task?rater=R&q=ID} one task,
 * {@code POST /vote}, {@code /results} counts and pies, {@code /pie/CRITERION.png},
 * {@code /summary.json}. The summary JSON and pie PNGs are also rewritten on disk after every vote.
 */
public final class HhhServer implements AutoCloseable {
    static final String TITLE = "HHH human evaluation";
    private static final String CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'";

    private final HhhTasks tasks;
    private final VoteLog log;
    private final Path summary;
    private final String defaultRater;
    private final Clock clock;
    private final HttpServer http;

    /**
     * Serves {@code tasks} on 127.0.0.1:{@code port} (0 picks a free port), votes appended to
     * {@code votes}, the summary written to {@code summary} with the pies next to it.
     */
    public HhhServer(HhhTasks tasks, Path votes, Path summary, int port, String defaultRater, Clock clock) throws IOException {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be 0..65535, got " + port);
        this.tasks = tasks;
        this.summary = summary;
        this.defaultRater = defaultRater == null || defaultRater.isBlank() ? null : defaultRater.strip();
        this.clock = clock;
        for (Vote v : VoteLog.read(votes)) {
            if (!v.modelA().equals(tasks.modelA()) || !v.modelB().equals(tasks.modelB())) {
                throw new IllegalArgumentException(votes + " holds votes on " + v.modelA() + " vs " + v.modelB()
                        + ", not on the answers given (" + tasks.modelA() + " vs " + tasks.modelB() + ")");
            }
        }
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 0);
        this.log = new VoteLog(votes);
        writeReports();
        // one dispatcher thread: requests are handled one at a time, so votes never interleave
        http.createContext("/", this::handle);
        http.start();
    }

    public URI uri() {
        return URI.create("http://127.0.0.1:" + http.getAddress().getPort() + "/");
    }

    @Override
    public void close() throws IOException {
        http.stop(0);
        log.close();
    }

    // ---- routing ----

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            boolean post = ex.getRequestMethod().equals("POST");
            if (!post && !ex.getRequestMethod().equals("GET")) {
                send(ex, 405, "text/plain; charset=utf-8", "GET or POST only".getBytes(StandardCharsets.UTF_8));
                return;
            }
            try {
                Map<String, String> params = form(ex.getRequestURI().getRawQuery());
                if (post) params.putAll(form(new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8)));
                switch (path) {
                    case "/" -> html(ex, 200, index(rater(params)));
                    case "/task" -> html(ex, 200, task(requireRater(params), requireTask(params)));
                    case "/vote" -> {
                        if (!post) throw new BadRequest("votes are sent with POST");
                        vote(ex, requireRater(params), requireTask(params), params);
                    }
                    case "/results" -> html(ex, 200, results());
                    case "/summary.json" -> send(ex, 200, "application/json", ReportFiles.JSON.writeValueAsBytes(tally().toJson()));
                    default -> {
                        Criterion c = path.startsWith("/pie/") && path.endsWith(".png") ? criterion(path.substring(5, path.length() - 4)) : null;
                        PieChart pie = c == null ? null : tally().pie(c);
                        if (pie == null) html(ex, 404, page("Not found", "<p>Nothing at " + Html.escape(path) + ".</p>"));
                        else send(ex, 200, "image/png", BitmapEncoder.getBitmapBytes(pie, BitmapEncoder.BitmapFormat.PNG));
                    }
                }
            } catch (BadRequest e) {
                html(ex, 400, page("Bad request", "<p id=\"error\">" + Html.escape(e.getMessage()) + "</p><p><a href=\"/\">Start page</a></p>"));
            } catch (IOException | RuntimeException e) {
                // e.g. the votes file became unwritable: the rater sees that the vote was not saved
                html(ex, 500, page("Not saved", "<p id=\"error\">" + Html.escape(String.valueOf(e.getMessage())) + "</p>"));
            }
        }
    }

    private static final class BadRequest extends RuntimeException {
        BadRequest(String message) {
            super(message);
        }
    }

    private String rater(Map<String, String> params) {
        String r = params.getOrDefault("rater", "").strip();
        if (r.isEmpty()) return defaultRater;
        if (r.length() > 100) throw new BadRequest("a rater name has at most 100 characters");
        return r;
    }

    private String requireRater(Map<String, String> params) {
        String r = rater(params);
        if (r == null) throw new BadRequest("no rater name: start from the start page");
        return r;
    }

    private HhhTasks.Task requireTask(Map<String, String> params) {
        HhhTasks.Task t = tasks.task(params.getOrDefault("q", ""));
        if (t == null) throw new BadRequest("no question \"" + params.getOrDefault("q", "") + "\"");
        return t;
    }

    private static Criterion criterion(String key) {
        for (Criterion c : Criterion.values()) if (c.key().equals(key)) return c;
        return null;
    }

    // ---- pages ----

    private String index(String rater) {
        if (rater == null) {
            return page("Who is rating?", """
                    <form method="get" action="/">
                    <label for="rater">Your name</label> <input id="rater" name="rater" required maxlength="100">
                    <button id="start" type="submit">Start</button>
                    </form>
                    <p><a id="results-link" href="/results">Results</a></p>""");
        }
        Map<String, Vote> mine = votesOf(rater);
        StringBuilder b = new StringBuilder();
        b.append(progress(rater, mine));
        HhhTasks.Task next = nextUndone(mine, null);
        b.append(next == null ? "<p id=\"all-done\">All tasks done, thank you.</p>"
                : "<p><a id=\"next\" href=\"" + taskHref(rater, next) + "\">Next task</a></p>");
        b.append("<ol id=\"tasks\">");
        for (HhhTasks.Task t : tasks.tasks()) {
            b.append("<li><a href=\"").append(taskHref(rater, t)).append("\">").append(Html.escape(preview(t.instruction()))).append("</a>")
             .append(mine.containsKey(t.id()) ? " <span class=\"done\">✓ done</span>" : "").append("</li>");
        }
        b.append("</ol><p><a id=\"results-link\" href=\"/results\">Results</a></p>");
        return page("Tasks for " + Html.escape(rater), b.toString());
    }

    private String task(String rater, HhhTasks.Task t) {
        Map<String, Vote> mine = votesOf(rater);
        boolean leftIsA = PresentationOrder.leftIsA(rater, t.id());
        Vote previous = mine.get(t.id());
        StringBuilder b = new StringBuilder(progress(rater, mine));
        b.append("<h2>Instruction</h2><div class=\"text\" id=\"instruction\">").append(Html.escape(t.instruction())).append("</div>");
        if (!t.input().isEmpty()) b.append("<h2>Input</h2><div class=\"text\" id=\"input\">").append(Html.escape(t.input())).append("</div>");
        b.append("<div class=\"answers\">");
        b.append("<div class=\"answer\"><h2>Answer A</h2><div class=\"text\" id=\"answer-left\">")
         .append(Html.escape(leftIsA ? t.answerA() : t.answerB())).append("</div></div>");
        b.append("<div class=\"answer\"><h2>Answer B</h2><div class=\"text\" id=\"answer-right\">")
         .append(Html.escape(leftIsA ? t.answerB() : t.answerA())).append("</div></div></div>");
        b.append("<form method=\"post\" action=\"/vote\">");
        b.append("<input type=\"hidden\" name=\"rater\" value=\"").append(Html.escape(rater)).append("\">");
        b.append("<input type=\"hidden\" name=\"q\" value=\"").append(Html.escape(t.id())).append("\">");
        for (Criterion c : Criterion.values()) {
            String picked = previous == null ? null : previous.choices().get(c).side(leftIsA);
            b.append("<fieldset><legend>").append(c.title).append("</legend><p class=\"hint\">").append(c.question).append("</p>");
            for (String[] side : new String[][] {{"left", "A better"}, {"tie", "Tie"}, {"right", "B better"}}) {
                String id = c.key() + "-" + side[0];
                b.append("<input type=\"radio\" required name=\"").append(c.key()).append("\" id=\"").append(id)
                 .append("\" value=\"").append(side[0]).append("\"").append(side[0].equals(picked) ? " checked" : "")
                 .append("> <label for=\"").append(id).append("\">").append(side[1]).append("</label> ");
            }
            b.append("</fieldset>");
        }
        b.append("<button id=\"submit\" type=\"submit\">Save and next</button></form>");
        b.append("<p><a id=\"home\" href=\"/?rater=").append(url(rater)).append("\">All tasks</a></p>");
        return page("Question " + Html.escape(t.id()), b.toString());
    }

    private void vote(HttpExchange ex, String rater, HhhTasks.Task t, Map<String, String> params) throws IOException {
        boolean leftIsA = PresentationOrder.leftIsA(rater, t.id());
        Map<Criterion, Choice> choices = new EnumMap<>(Criterion.class);
        for (Criterion c : Criterion.values()) {
            String side = params.get(c.key());
            if (side == null) throw new BadRequest("no choice for " + c.title + ": pick A better, Tie or B better");
            try {
                choices.put(c, Choice.fromSide(side, leftIsA));
            } catch (IllegalArgumentException e) {
                throw new BadRequest(c.title + ": " + e.getMessage());
            }
        }
        log.append(new Vote(rater, clock.instant(), t.id(), tasks.modelA(), tasks.modelB(), leftIsA, choices));
        writeReports();
        HhhTasks.Task next = nextUndone(votesOf(rater), t);
        ex.getResponseHeaders().set("Location", next == null ? "/?rater=" + url(rater) : taskUrl(rater, next));
        send(ex, 303, "text/plain; charset=utf-8", new byte[0]);
    }

    private String results() {
        HhhTally tally = tally();
        StringBuilder b = new StringBuilder();
        b.append("<p id=\"verdicts\">").append(tally.verdicts()).append(" verdicts on ").append(tally.questions())
         .append(" questions from ").append(tally.doneByRater().size()).append(" raters</p>");
        b.append("<table id=\"counts\"><tr><th>Criterion</th><th>").append(Html.escape(tasks.modelA())).append(" wins</th><th>Tie</th><th>")
         .append(Html.escape(tasks.modelB())).append(" wins</th></tr>");
        for (Criterion c : Criterion.values()) {
            int[] n = tally.counts().get(c);
            b.append("<tr id=\"row-").append(c.key()).append("\"><td>").append(c.title).append("</td><td class=\"a-wins\">")
             .append(cell(n, HhhTally.A_WINS)).append("</td><td class=\"tie\">").append(cell(n, HhhTally.TIES))
             .append("</td><td class=\"b-wins\">").append(cell(n, HhhTally.B_WINS)).append("</td></tr>");
        }
        b.append("</table><div class=\"pies\">");
        for (Criterion c : Criterion.values()) {
            b.append(tally.pie(c) == null ? "<p>" + c.title + ": no votes yet</p>"
                    : "<img id=\"pie-" + c.key() + "\" src=\"/pie/" + c.key() + ".png\" alt=\"" + c.title + " pie\">");
        }
        b.append("</div><p><a href=\"/summary.json\">Summary (JSON)</a> · <a href=\"/\">Start page</a></p>");
        return page("Results: " + Html.escape(tasks.modelA()) + " vs " + Html.escape(tasks.modelB()), b.toString());
    }

    private static String cell(int[] n, int which) {
        int total = n[0] + n[1] + n[2];
        return total == 0 ? "0" : String.format(java.util.Locale.ROOT, "%d (%.1f%%)", n[which], 100.0 * n[which] / total);
    }

    private String progress(String rater, Map<String, Vote> mine) {
        return "<p id=\"progress\">" + mine.size() + " of " + tasks.tasks().size() + " done by " + Html.escape(rater) + "</p>";
    }

    // ---- state ----

    private HhhTally tally() {
        return HhhTally.of(tasks, log.votes());
    }

    private Map<String, Vote> votesOf(String rater) {
        Map<String, Vote> mine = new HashMap<>();
        for (Vote v : log.votes()) if (v.rater().equals(rater) && tasks.task(v.questionId()) != null) mine.put(v.questionId(), v);
        return mine;
    }

    /** The first undone task after {@code after} (wrapping round), or the first undone one. */
    private HhhTasks.Task nextUndone(Map<String, Vote> done, HhhTasks.Task after) {
        List<HhhTasks.Task> all = tasks.tasks();
        int start = after == null ? 0 : all.indexOf(after) + 1;
        for (int i = 0; i < all.size(); i++) {
            HhhTasks.Task t = all.get((start + i) % all.size());
            if (!done.containsKey(t.id())) return t;
        }
        return null;
    }

    private void writeReports() throws IOException {
        HhhTally tally = tally();
        ReportFiles.writeJson(summary, tally.toJson());
        String name = summary.getFileName().toString();
        String stem = name.endsWith(".json") ? name.substring(0, name.length() - 5) : name;
        for (Criterion c : Criterion.values()) {
            PieChart pie = tally.pie(c);
            if (pie != null) ReportFiles.writePng(summary.resolveSibling(stem + "-" + c.key() + ".png"), pie);
        }
    }

    // ---- HTML and HTTP ----

    private static String preview(String s) {
        String oneLine = s.replaceAll("\\s+", " ").strip();
        return oneLine.length() <= 100 ? oneLine : oneLine.substring(0, 97) + "...";
    }

    private static String taskHref(String rater, HhhTasks.Task t) {
        return Html.escape(taskUrl(rater, t));
    }

    private static String taskUrl(String rater, HhhTasks.Task t) {
        return "/task?rater=" + url(rater) + "&q=" + url(t.id());
    }

    private static String url(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    private static String page(String heading, String body) {
        return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + TITLE + "</title><style>"
                + "body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}"
                + ".text{white-space:pre-wrap;border:1px solid #ccc;padding:.5em;background:#fafafa}"
                + ".answers{display:flex;gap:1em}.answer{flex:1;min-width:0}.done{color:green}"
                + "fieldset{margin:.5em 0}.hint{margin:.2em 0;color:#555}td,th{padding:.2em .8em}"
                + "</style></head><body><h1>" + heading + "</h1>" + body + "</body></html>";
    }

    private static void html(HttpExchange ex, int status, String html) throws IOException {
        send(ex, status, "text/html; charset=utf-8", html.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.getResponseHeaders().set("Content-Security-Policy", CSP);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    private static Map<String, String> form(String raw) {
        Map<String, String> m = new HashMap<>();
        if (raw == null || raw.isEmpty()) return m;
        for (String pair : raw.split("&")) {
            int eq = pair.indexOf('=');
            String k = eq < 0 ? pair : pair.substring(0, eq);
            String v = eq < 0 ? "" : pair.substring(eq + 1);
            try {
                m.put(URLDecoder.decode(k, StandardCharsets.UTF_8), URLDecoder.decode(v, StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw new BadRequest("malformed form data");
            }
        }
        return m;
    }
}
