package org.gpt4llm.demo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Set;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.gpt4llm.datagen.demo.DemoTeacherServer;
import org.gpt4llm.io.AtomicFiles;

/**
 * {@code gpt4llm demo}: the paper's pipeline end to end, each stage one or more {@code gpt4llm}
 * commands printed as a user would type them and run in this process by the {@link Commands} it is given
 * (the command line's own, so the demo depends on no command-line class).
 * A stage that finished leaves a marker ({@code stages/ID.json}: its commands and their times) written
 * after its last output, so a rerun skips it; a stage without one has its outputs removed and runs
 * again. The last stage writes {@code report.html} ({@link DemoReport}).
 */
public final class DemoPipeline {
    static final ObjectMapper JSON = new ObjectMapper();

    /** What {@code gpt4llm demo}'s flags decide. */
    public record Options(Path out, boolean fresh, String teacherUrl, String teacherModel, String apiKeyEnv,
                          Path base, Integer threads, String template, String backend, DemoSize size) {}

    /** Runs one {@code gpt4llm} command in this process (arguments without the program name): its exit status. */
    @FunctionalInterface
    public interface Commands {
        int run(String[] args, PrintWriter err);
    }

    /** A stage that did not finish: the command and its exit status. */
    public static final class StageFailedException extends RuntimeException {
        StageFailedException(String message) {
            super(message);
        }
    }

    // the model ids of the answer files, used as the models' names in every evaluation
    static final String UNTUNED = "untuned", FULL = "full-sft", LORA = "lora-sft";
    static final String BEST_OF = "full-sft-best-of-";
    static final String DPO = "full-sft-dpo";
    static final String WEAK = "weak-sft", RFT = "rft";
    /** Where the weaker teacher's API base goes in a planned command, until it is started. */
    static final String WEAK_TEACHER = "WEAK_TEACHER";

    private final Options o;
    private final Commands commands;
    private final DemoSize s;
    private final PrintStream log;
    private final PrintWriter err;
    private final Path out;
    /** The weaker teacher's API base once it is started (the placeholder until then). */
    private String weakTeacher = WEAK_TEACHER;

    public DemoPipeline(Options options, Commands commands, PrintStream log, PrintWriter err) {
        this.o = options;
        this.commands = commands;
        this.s = options.size().validate();
        this.log = log;
        this.err = err;
        this.out = options.out();
    }

    // ---- where everything goes
    Path p(String rel) {
        return out.resolve(rel);
    }

    String f(String rel) {
        return p(rel).toString();
    }

    Path markerDir() {
        return p("stages");
    }

    Path marker(String id) {
        return markerDir().resolve(id + ".json");
    }

    Path report() {
        return p("report.html");
    }

    /** The untuned model: the given base, or the one pretrained here. */
    String baseModel() {
        return o.base() != null ? o.base().toString() : f("runs/base/final");
    }

    String template() {
        return o.template() != null ? o.template() : o.base() != null ? "alpaca" : "plain";
    }

    String teacherModel() {
        return o.teacherModel() != null ? o.teacherModel() : DemoTeacherServer.MODEL;
    }

    int bestOf() {
        return s.bestOf();
    }

    /** Every stage in order; {@code teacher} is the teacher's API base (as it is known when they run). */
    List<DemoStage> stages(String teacher) {
        List<DemoStage> st = new ArrayList<>();
        String threadsFlag = o.threads() == null ? null : String.valueOf(o.threads());
        st.add(new DemoStage("tasks", "Demo tasks: training instructions and disjoint held-out tasks with their answers",
                List.of(List.of("demo", "tasks", "--n", String.valueOf(s.train()), "--seed", "1", "--out", f("data/train-tasks.json")),
                        List.of("demo", "tasks", "--n", String.valueOf(s.heldout()), "--seed", "2", "--exclude",
                                f("data/train-tasks.json"), "--with-answers", "--out", f("data/heldout.json"))),
                List.of(p("data/train-tasks.json"), p("data/heldout.json"))));
        st.add(new DemoStage("datagen", "Instruction data: the teacher answers every training instruction",
                List.of(teacherCall(List.of("datagen", "alpaca", "--in", f("data/train-tasks.json"), "--out", f("data/alpaca.jsonl"),
                        "--export", f("data/alpaca.json")), teacher)),
                List.of(p("data/alpaca.json")),
                List.of(p("data/alpaca.jsonl"), p("data/alpaca.jsonl.usage.jsonl"), p("data/alpaca.failures.jsonl"))));
        if (o.base() == null) {
            st.add(new DemoStage("tokenizer", "A byte-level BPE tokenizer trained on the instruction data",
                    List.of(List.of("init-tokenizer", "--data", f("data/alpaca.json"), "--vocab", String.valueOf(s.vocab()),
                            "--out", f("models/tokenizer"))),
                    List.of(p("models/tokenizer"))));
            st.add(new DemoStage("init", "A LLaMA model from scratch (random weights)",
                    List.of(List.of("init-model", "--arch", "llama", "--preset", s.preset(), "--tokenizer", f("models/tokenizer"),
                            "--out", f("models/init"), "--seed", "0")),
                    List.of(p("models/init"))));
            st.add(new DemoStage("pretrain", "The untuned base: language-model pretraining on the data's texts, each"
                    + " instruction, input and answer a document of its own (never paired)",
                    List.of(train(List.of("sft", "--model", f("models/init"), "--data", f("data/alpaca.json"), "--texts",
                            "--out", f("runs/base")), s.pretrainSteps(), s.lr(), threadsFlag)),
                    List.of(p("runs/base"))));
        }
        st.add(new DemoStage("sft", "Instruction tuning of the base: all weights, and LoRA adapters",
                List.of(train(List.of("sft", "--model", baseModel(), "--data", f("data/alpaca.json"), "--out", f("runs/full")),
                                s.fullSteps(), s.lr(), threadsFlag),
                        train(List.of("sft", "--model", baseModel(), "--data", f("data/alpaca.json"), "--out", f("runs/lora"),
                                "--lora-rank", String.valueOf(s.loraRank()), "--lora-alpha", String.valueOf(2 * s.loraRank()),
                                "--lora-dropout", "0", "--lora-targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"),
                                s.loraSteps(), s.loraLr(), threadsFlag)),
                List.of(p("runs/full"), p("runs/lora"))));
        st.add(weakTeacherStage(threadsFlag));
        List<String> compareAnswers = List.of(f("answers/compare/" + UNTUNED + ".jsonl"), f("answers/compare/" + LORA + ".jsonl"),
                f("answers/compare/" + FULL + ".jsonl"));
        List<List<String>> compare = new ArrayList<>();
        compare.add(generate(baseModel(), null, f("data/train-tasks.json"), compareAnswers.get(0), UNTUNED, "1.0", s.compare(), threadsFlag));
        compare.add(generate(baseModel(), f("runs/lora/final"), f("data/train-tasks.json"), compareAnswers.get(1), LORA, "1.0", s.compare(), threadsFlag));
        compare.add(generate(f("runs/full/final"), null, f("data/train-tasks.json"), compareAnswers.get(2), FULL, "1.0", s.compare(), threadsFlag));
        List<String> datagenCompare = new ArrayList<>(List.of("datagen", "compare", "--questions", f("data/train-tasks.json")));
        for (String a : compareAnswers) datagenCompare.addAll(List.of("--in", a));
        datagenCompare.addAll(List.of("--out", f("data/compare.jsonl"), "--export", f("data/compare.json")));
        compare.add(teacherCall(datagenCompare, teacher));
        st.add(new DemoStage("compare", "Comparison data: three models answer training instructions (sampled), the teacher rates each answer 1-10",
                compare, List.of(p("answers/compare"), p("data/compare.json")),
                List.of(p("data/compare.jsonl"), p("data/compare.jsonl.usage.jsonl"), p("data/compare.failures.jsonl"))));
        List<String> rm = new ArrayList<>(List.of("rm", "--model", f("runs/full/final"), "--data", f("data/compare.json"),
                "--out", f("runs/rm"), "--template", template(), "--max-len", String.valueOf(s.maxLen()),
                "--max-steps", String.valueOf(s.rmSteps()), "--batch", String.valueOf(s.batch()),
                "--micro-batch", String.valueOf(s.batch()), "--lr", String.valueOf(s.rmLr()), "--eval-fraction", "0.1",
                "--eval-every", String.valueOf(Math.max(1, s.rmSteps() / 5)), "--save-every", "0", "--quiet"));
        if (threadsFlag != null) rm.addAll(List.of("--threads", threadsFlag));
        if (o.backend() != null) rm.addAll(List.of("--backend", o.backend()));
        st.add(new DemoStage("rm", "A reward model on the comparison data (backbone: the fully tuned model)",
                List.of(rm), List.of(p("runs/rm"))));
        String heldout = f("data/heldout.json");
        List<List<String>> gen = new ArrayList<>();
        gen.add(generate(baseModel(), null, heldout, f("answers/heldout/" + UNTUNED + ".jsonl"), UNTUNED, "0", 0, threadsFlag));
        gen.add(generate(baseModel(), f("runs/lora/final"), heldout, f("answers/heldout/" + LORA + ".jsonl"), LORA, "0", 0, threadsFlag));
        gen.add(scored(generate(f("runs/full/final"), null, heldout, f("answers/heldout/" + FULL + ".jsonl"), FULL, "0", 0, threadsFlag)));
        List<String> bon = generate(f("runs/full/final"), null, heldout, bestOfFile(), BEST_OF + bestOf(), "0.7", 0, threadsFlag);
        bon.addAll(List.of("--n", String.valueOf(bestOf()), "--rerank", f("runs/rm/final"), "--rm-template", template(),
                "--rm-max-len", String.valueOf(s.maxLen())));
        gen.add(bon);
        st.add(new DemoStage("generate", "Held-out answers: untuned, LoRA and full (greedy, the full model's scored by the reward"
                + " model), and best-of-" + bestOf() + " from the full model re-ranked by the reward model", gen, List.of(p("answers/heldout"))));
        st.add(ratingsStage(teacher));
        st.add(rejectionSamplingStage(threadsFlag));
        st.add(dpoStage(threadsFlag));
        List<String> exact = new ArrayList<>(List.of("eval", "exact"));
        List<String> rouge = new ArrayList<>(List.of("eval", "rouge"));
        for (String[] m : evaluated()) {
            exact.addAll(List.of("--predictions", m[1], "--model", m[0]));
            rouge.addAll(List.of("--predictions", m[1], "--model", m[0]));
        }
        exact.addAll(List.of("--references", heldout, "--out", f("eval/exact")));
        rouge.addAll(List.of("--references", heldout, "--per-instance", f("eval/rouge/per-instance.jsonl"), "--out", f("eval/rouge")));
        st.add(new DemoStage("eval", "Evaluation on the held-out tasks: exact match and ROUGE-L against the rule-based answers",
                List.of(exact, rouge), List.of(p("eval"))));
        return st;
    }

    /**
     * The preference stage: the full SFT model trained further with DPO on the teacher's comparison
     * ratings (every score-ordered pair of its three rated answers per instruction), as many steps as the
     * reward model at its learning rate, then its greedy answers to the held-out tasks, scored by the reward model.
     */
    private DemoStage dpoStage(String threadsFlag) {
        List<String> dpo = new ArrayList<>(List.of("dpo", "--model", f("runs/full/final"), "--data", f("data/compare.json"),
                "--out", f("runs/dpo"), "--template", template(), "--max-len", String.valueOf(s.maxLen()),
                "--max-steps", String.valueOf(s.rmSteps()), "--batch", String.valueOf(s.batch()),
                "--micro-batch", String.valueOf(s.batch()), "--lr", String.valueOf(s.rmLr()), "--beta", "0.1",
                "--eval-fraction", "0.1", "--eval-every", String.valueOf(Math.max(1, s.rmSteps() / 5)), "--eval-on-start",
                "--save-every", "0", "--quiet"));
        if (threadsFlag != null) dpo.addAll(List.of("--threads", threadsFlag));
        if (o.backend() != null) dpo.addAll(List.of("--backend", o.backend()));
        String answers = f("answers/heldout/" + DPO + ".jsonl");
        return new DemoStage("dpo", "Preference optimisation: the full model trained further with DPO on the teacher's"
                + " comparison ratings, then its held-out answers (greedy)",
                List.of(dpo, scored(generate(f("runs/dpo/final"), null, f("data/heldout.json"), answers, DPO, "0", 0, threadsFlag))),
                List.of(p("runs/dpo"), p("answers/heldout/" + DPO + ".jsonl"), p("answers/heldout/" + DPO + "-top1.jsonl")));
    }

    /** The best-of-n answers file; the k-th ranked samples go to {@code NAME-topK.jsonl} beside it. */
    String bestOfFile() {
        return f("answers/heldout/" + BEST_OF + bestOf() + ".jsonl");
    }

    /** {model name, answer file} of everything the evaluation scores, in the report's order. */
    List<String[]> evaluated() {
        List<String[]> m = new ArrayList<>();
        m.add(new String[] {UNTUNED, f("answers/heldout/" + UNTUNED + ".jsonl")});
        m.add(new String[] {LORA, f("answers/heldout/" + LORA + ".jsonl")});
        m.add(new String[] {FULL, f("answers/heldout/" + FULL + ".jsonl")});
        m.add(new String[] {BEST_OF + bestOf(), bestOfFile()});
        String stem = bestOfFile().substring(0, bestOfFile().length() - ".jsonl".length());
        for (int k = 1; k <= bestOf(); k++) m.add(new String[] {"ranked-" + k + "-of-" + bestOf(), stem + "-top" + k + ".jsonl"});
        m.add(new String[] {WEAK, f("answers/weak/" + WEAK + ".jsonl")});
        m.add(new String[] {RFT, f("answers/heldout/" + RFT + ".jsonl")});
        m.add(new String[] {DPO, f("answers/heldout/" + DPO + ".jsonl")});
        return m;
    }

    /**
     * The paper's central comparison in miniature: a weaker teacher (the demo teacher answering a share
     * of the tasks sloppily, as GPT-3.5 beside GPT-4) answers the same training instructions, and the
     * same base is tuned on its answers with the full-SFT recipe; its student answers the held-out tasks.
     * It needs only the base and the tasks, so it comes right after instruction tuning and a change to a
     * later stage does not train it again.
     */
    DemoStage weakTeacherStage(String threadsFlag) {
        String heldout = f("data/heldout.json");
        List<List<String>> c = new ArrayList<>();
        c.add(List.of("datagen", "alpaca", "--in", f("data/train-tasks.json"), "--out", f("data/alpaca-weak.jsonl"),
                "--export", f("data/alpaca-weak.json"), "--api-base", weakTeacher, "--model", DemoTeacherServer.MODEL,
                "--price-prompt", "0", "--price-completion", "0"));
        c.add(train(List.of("sft", "--model", baseModel(), "--data", f("data/alpaca-weak.json"), "--out", f("runs/weak")),
                s.fullSteps(), s.lr(), threadsFlag));
        c.add(generate(f("runs/weak/final"), null, heldout, f("answers/weak/" + WEAK + ".jsonl"), WEAK, "0", 0, threadsFlag));
        return new DemoStage("weak", String.format(Locale.ROOT, "A weaker teacher (%.0f%% of its answers sloppy) answers the same"
                + " instructions; the base tuned on them as on the strong teacher's; its held-out answers", 100 * s.weakShare()), c,
                List.of(p("data/alpaca-weak.json"), p("runs/weak"), p("answers/weak")),
                List.of(p("data/alpaca-weak.jsonl"), p("data/alpaca-weak.jsonl.usage.jsonl"), p("data/alpaca-weak.failures.jsonl")));
    }

    /** The teacher rates the held-out answers of the strong teacher's student and the weaker teacher's 1-10. */
    DemoStage ratingsStage(String teacher) {
        return new DemoStage("ratings", "The teacher rates both students' held-out answers 1-10",
                List.of(teacherCall(List.of("datagen", "compare", "--questions", f("data/heldout.json"),
                        "--in", f("answers/heldout/" + FULL + ".jsonl"), "--in", f("answers/weak/" + WEAK + ".jsonl"),
                        "--out", f("data/heldout-ratings.jsonl"), "--export", f("data/heldout-ratings.json")), teacher)),
                List.of(p("data/heldout-ratings.json")),
                List.of(p("data/heldout-ratings.jsonl"), p("data/heldout-ratings.jsonl.usage.jsonl"), p("data/heldout-ratings.failures.jsonl")));
    }

    /**
     * One round of rejection sampling: the full-SFT model samples best-of-n answers to the training
     * instructions the teacher rated for the reward model, the reward model keeps the best of each, the
     * model is tuned further on them; its held-out answers are scored by the reward model.
     */
    DemoStage rejectionSamplingStage(String threadsFlag) {
        List<String> rft = new ArrayList<>(List.of("rft", "--model", f("runs/full/final"), "--prompts", f("data/train-tasks.json"),
                "--limit", String.valueOf(s.compare()), "--reward-model", f("runs/rm/final"), "--n", String.valueOf(bestOf()),
                "--temperature", "0.7", "--max-new-tokens", String.valueOf(s.maxNewTokens()), "--sample-batch", "32",
                "--rm-template", template(), "--rm-max-len", String.valueOf(s.maxLen()), "--out", f("runs/rft")));
        List<List<String>> c = new ArrayList<>();
        c.add(train(rft, s.rftSteps(), s.lr() / 3, threadsFlag));
        c.add(scored(generate(f("runs/rft/final"), null, f("data/heldout.json"), f("answers/heldout/" + RFT + ".jsonl"), RFT, "0", 0,
                threadsFlag)));
        return new DemoStage("rft", "Rejection sampling: the full model's best of " + bestOf() + " samples per training"
                + " instruction by the reward model, tuned on; its held-out answers", c,
                List.of(p("runs/rft"), p("answers/heldout/" + RFT + ".jsonl"), p("answers/heldout/" + RFT + "-top1.jsonl")));
    }

    /** A greedy generate command whose answers also get the reward model's score ({@code metadata.reward}). */
    private List<String> scored(List<String> generate) {
        List<String> a = new ArrayList<>(generate);
        a.addAll(List.of("--rerank", f("runs/rm/final"), "--rm-template", template(), "--rm-max-len", String.valueOf(s.maxLen())));
        return a;
    }

    private List<String> teacherCall(List<String> args, String teacher) {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of("--api-base", teacher, "--model", teacherModel()));
        // the built-in teacher costs nothing: no GPT-4 prices in its usage lines
        if (o.teacherUrl() == null) a.addAll(List.of("--price-prompt", "0", "--price-completion", "0"));
        if (o.apiKeyEnv() != null) a.addAll(List.of("--api-key-env", o.apiKeyEnv()));
        return a;
    }

    private List<String> train(List<String> args, int steps, double lr, String threads) {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of("--template", template(), "--max-len", String.valueOf(s.maxLen()), "--max-steps", String.valueOf(steps),
                "--batch", String.valueOf(s.batch()), "--micro-batch", String.valueOf(s.batch()), "--lr", String.valueOf(lr),
                "--eval-every", String.valueOf(Math.max(1, steps / 4)), "--eval-on-start", "--save-every", "0", "--quiet"));
        if (threads != null) a.addAll(List.of("--threads", threads));
        if (o.backend() != null) a.addAll(List.of("--backend", o.backend()));
        return a;
    }

    private List<String> generate(String model, String adapter, String questions, String outFile, String modelId,
                                  String temperature, int limit, String threads) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", model));
        if (adapter != null) a.addAll(List.of("--adapter", adapter));
        a.addAll(List.of("--questions", questions, "--out", outFile, "--model-id", modelId, "--template", template(),
                "--temperature", temperature, "--max-new-tokens", String.valueOf(s.maxNewTokens()), "--batch", "32"));
        if (limit > 0) a.addAll(List.of("--limit", String.valueOf(limit)));
        if (threads != null) a.addAll(List.of("--threads", threads));
        if (o.backend() != null) a.addAll(List.of("--backend", o.backend()));
        return a;
    }

    // ---- running

    /** Runs every stage not done yet, then writes the report; returns the report's path. */
    public Path run() throws IOException {
        long t0 = System.nanoTime();
        if (o.fresh()) clean();
        Files.createDirectories(markerDir());
        List<DemoStage> planned = stages("TEACHER");
        // a stage is done when its marker holds the commands planned now and every stage before it is done:
        // once one stage runs again, everything after it does too (it reads what that stage writes)
        Set<String> done = new HashSet<>();
        for (DemoStage st : planned) {
            if (!doneBefore(st)) break;
            done.add(st.id());
        }
        for (DemoStage st : planned) if (!done.contains(st.id())) Files.deleteIfExists(marker(st.id()));
        boolean teacherNeeded = planned.stream().anyMatch(st -> !done.contains(st.id()) && st.commands().stream()
                .anyMatch(c -> c.contains("TEACHER")));
        boolean weakNeeded = planned.stream().anyMatch(st -> !done.contains(st.id()) && st.commands().stream()
                .anyMatch(c -> c.contains(WEAK_TEACHER)));
        DemoTeacherServer server = null, weak = null;
        String teacher;
        try {
            if (o.teacherUrl() != null) {
                teacher = o.teacherUrl().replaceAll("/+$", "");
                if (teacherNeeded) checkReachable(teacher);
                log.println("teacher: " + teacher + " (model " + teacherModel() + ")");
            } else if (teacherNeeded) {
                server = DemoTeacherServer.start(0);
                teacher = server.apiBase();
                int port = URI.create(teacher).getPort();
                log.println("teacher: the built-in DEMO teacher (rule-based, not GPT-4) at " + teacher
                        + "; the same server as:\n$ gpt4llm demo teacher --port " + port);
                writeTeacherNote(teacher, port);
            } else {
                teacher = "TEACHER";
            }
            if (weakNeeded) { // the built-in one, also beside a teacher given by URL: it answers the demo's own tasks
                weak = DemoTeacherServer.start(0, s.weakShare());
                weakTeacher = weak.apiBase();
                log.println("weaker teacher: the built-in demo teacher answering " + Math.round(100 * s.weakShare())
                        + "% of the tasks sloppily, at " + weakTeacher);
                writeWeakTeacherNote(URI.create(weakTeacher).getPort());
            }
            List<DemoStage> stages = stages(teacher);
            for (int i = 0; i < stages.size(); i++) {
                runStage(stages.get(i), planned.get(i), done.contains(stages.get(i).id()), i + 1, stages.size() + 1);
            }
        } finally {
            if (server != null) server.close();
            if (weak != null) weak.close();
        }
        log.printf(Locale.ROOT, "%n[%d/%d] Report%n", stagesCount(), stagesCount());
        long r0 = System.nanoTime();
        DemoReport report = new DemoReport(this);
        Path html = report.write((System.nanoTime() - r0) / 1e9);
        log.printf(Locale.ROOT, "%nwrote %s (pipeline %.0f s this run)%n", html, (System.nanoTime() - t0) / 1e9);
        log.println(report.summaryLine());
        return html;
    }

    private int stagesCount() {
        return stages("TEACHER").size() + 1;
    }

    /** Whether an earlier run finished {@code planned} (commands with the TEACHER placeholder) as planned now. */
    private boolean doneBefore(DemoStage planned) throws IOException {
        if (!Files.isRegularFile(marker(planned.id()))) return false;
        return JSON.readTree(marker(planned.id()).toFile()).path("plan").equals(plan(planned));
    }

    private static ArrayNode plan(DemoStage planned) {
        ArrayNode a = JSON.createArrayNode();
        for (List<String> c : planned.commands()) a.add(DemoStage.commandLine(c));
        return a;
    }

    private void runStage(DemoStage st, DemoStage planned, boolean done, int k, int n) throws IOException {
        if (done) {
            JsonNode m = JSON.readTree(marker(st.id()).toFile());
            log.printf(Locale.ROOT, "%n[%d/%d] %s: done in an earlier run (%.1f s), skipped%n", k, n, st.title(),
                    m.path("seconds").asDouble());
            return;
        }
        log.printf(Locale.ROOT, "%n[%d/%d] %s%n", k, n, st.title());
        for (Path p : st.outputs()) deleteTree(p);
        ObjectNode marker = JSON.createObjectNode();
        marker.put("id", st.id()).put("title", st.title());
        marker.set("plan", plan(planned));
        ArrayNode cmds = marker.putArray("commands");
        long s0 = System.nanoTime();
        for (List<String> c : st.commands()) {
            String line = DemoStage.commandLine(c);
            log.println("$ " + line);
            log.flush();
            for (Path p : st.outputs()) {
                Path parent = p.toAbsolutePath().getParent();
                if (parent != null) Files.createDirectories(parent);
            }
            long c0 = System.nanoTime();
            int rc;
            try {
                rc = commands.run(c.toArray(String[]::new), err);
            } catch (RuntimeException e) {
                throw new StageFailedException("stage '" + st.id() + "' failed: `" + line + "` threw " + e);
            }
            double secs = (System.nanoTime() - c0) / 1e9;
            if (rc != 0) {
                throw new StageFailedException("stage '" + st.id() + "' failed: `" + line + "` exited with status " + rc
                        + " (its error is printed above); run gpt4llm demo again with the same flags to resume from this stage");
            }
            log.printf(Locale.ROOT, "  (%.1f s)%n", secs);
            cmds.addObject().put("command", line).put("seconds", Math.round(secs * 10) / 10.0);
        }
        double total = (System.nanoTime() - s0) / 1e9;
        marker.put("seconds", Math.round(total * 10) / 10.0);
        AtomicFiles.writeJson(marker(st.id()), marker); // last: the stage counts as done only once all of it is
        log.printf(Locale.ROOT, "  stage done in %.1f s%n", total);
    }

    /** The teacher's equivalent command, for the report (the server itself ran inside this process). */
    private void writeTeacherNote(String teacher, int port) throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("api_base", teacher).put("model", DemoTeacherServer.MODEL).put("demo", true)
                .put("command", "gpt4llm demo teacher --port " + port);
        AtomicFiles.writeJson(markerDir().resolve("teacher.json"), n);
    }

    /** The weaker teacher's equivalent command, for the report. */
    private void writeWeakTeacherNote(int port) throws IOException {
        ObjectNode n = JSON.createObjectNode();
        n.put("api_base", weakTeacher).put("wrong_share", s.weakShare())
                .put("command", String.format(Locale.ROOT, "gpt4llm demo teacher --port %d --wrong-share %s", port, s.weakShare()));
        AtomicFiles.writeJson(markerDir().resolve("weak-teacher.json"), n);
    }

    /** A teacher given by URL must answer HTTP at all before any work starts (any status will do: a key may be needed). */
    private void checkReachable(String teacher) {
        URI uri;
        try {
            uri = URI.create(teacher + "/models");
            if (uri.getScheme() == null || !uri.getScheme().startsWith("http") || uri.getHost() == null) throw new IllegalArgumentException();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--teacher " + teacher + " is not an http(s) URL such as http://127.0.0.1:8000/v1");
        }
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.discarding());
        } catch (IOException e) {
            throw new IllegalArgumentException("--teacher " + teacher + ": no API answers there (" + describe(e) + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalArgumentException("--teacher " + teacher + ": interrupted while checking it answers");
        }
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        if (e instanceof java.net.ConnectException) return "connection refused";
        if (e instanceof java.net.http.HttpTimeoutException) return "no answer within 10 s";
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }

    /** --fresh: removes everything a run writes (and only that). */
    private void clean() throws IOException {
        for (DemoStage st : stages("TEACHER")) {
            for (Path p : st.outputs()) deleteTree(p);
            for (Path p : st.resumable()) deleteTree(p);
        }
        deleteTree(markerDir());
        deleteTree(report());
        for (String dir : List.of("data", "models", "runs", "answers/compare", "answers/heldout", "answers/weak", "answers", "eval")) {
            Path d = p(dir);
            try (Stream<Path> l = Files.isDirectory(d) ? Files.list(d) : Stream.empty()) {
                if (Files.isDirectory(d) && l.findAny().isEmpty()) Files.delete(d);
            }
        }
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    Options options() {
        return o;
    }

    DemoSize size() {
        return s;
    }
}
