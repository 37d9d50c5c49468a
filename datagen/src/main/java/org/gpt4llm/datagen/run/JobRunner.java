package org.gpt4llm.datagen.run;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.gpt4llm.datagen.files.AtomicWrite;
import org.gpt4llm.datagen.job.Item;
import org.gpt4llm.datagen.job.Job;
import org.gpt4llm.datagen.teacher.ChatRequest;
import org.gpt4llm.datagen.teacher.ChatResponse;
import org.gpt4llm.datagen.teacher.Teacher;
import org.gpt4llm.datagen.teacher.TeacherException;
import org.gpt4llm.datagen.teacher.UsageReport;

/**
 * Runs a {@link Job} over its items into an append-only JSONL output, resumably: items whose id the
 * output already has are skipped, the rest run on {@code concurrency} virtual threads and each
 * finished record is appended as one line. Failures go to {@code <out>.failures.jsonl} with the
 * reason and are tried again by the next run. {@link #export} turns the output into the released
 * JSON file, in input order.
 */
public final class JobRunner {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The tag of this runner's temp files (the export and the failures file). */
    static final String WRITER = "datagen";

    private final Job job;
    private final List<Item> items;
    private final Path out;
    private final PrintWriter err;

    /** {@code err}: progress and notes (stderr). */
    public JobRunner(Job job, List<Item> items, Path out, PrintWriter err) {
        this.job = job;
        this.items = List.copyOf(items);
        this.out = out;
        this.err = err;
        Set<String> ids = new HashSet<>();
        for (Item it : items) {
            if (!ids.add(it.id())) throw new IllegalArgumentException("the " + job.name() + " input has the id " + it.id() + " twice");
        }
    }

    /** The failures file next to {@code out}: {@code answers.jsonl} → {@code answers.failures.jsonl}. */
    public static Path failuresFile(Path out) {
        String name = out.getFileName().toString();
        String stem = name.endsWith(".jsonl") ? name.substring(0, name.length() - 6) : name;
        return out.resolveSibling(stem + ".failures.jsonl");
    }

    /** The items a run would do: not in the output yet, in input order, at most {@code limit}. */
    private List<Item> todo(Map<String, ObjectNode> done, int limit) {
        List<Item> todo = new ArrayList<>();
        for (Item it : items) {
            if (limit >= 0 && todo.size() >= limit) break;
            if (!done.containsKey(it.id())) todo.add(it);
        }
        return todo;
    }

    /** {@code --dry-run}: the first requests of the first items still to do, as JSON on {@code stdout}; sends and writes nothing. */
    public void dryRun(RunOptions options, PrintWriter stdout) throws IOException {
        Map<String, ObjectNode> done = readOutput(false);
        List<Item> todo = todo(done, options.limit());
        stdout.printf("%s: %d items, %d already done, %d to do; the requests of the first %d:%n", job.name(), items.size(),
                done.size(), todo.size(), Math.min(options.previewItems(), todo.size()));
        for (Item it : todo.subList(0, Math.min(options.previewItems(), todo.size()))) {
            for (ChatRequest r : job.preview(it)) {
                ObjectNode n = JSON.createObjectNode().put("id", it.id());
                n.set("messages", JSON.valueToTree(r.messages()));
                n.put("temperature", r.temperature()).put("max_tokens", r.maxTokens());
                stdout.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n));
            }
        }
        stdout.flush();
    }

    /** Runs every item not done yet (at most {@code limit}) and appends its record to the output. */
    public RunSummary run(Teacher teacher, RunOptions options, boolean terminal) throws IOException {
        if (options.dryRun()) throw new IllegalArgumentException("a dry run is dryRun(), not run()");
        long t0 = System.nanoTime();
        Map<String, ObjectNode> done = readOutput(true);
        List<Item> todo = todo(done, options.limit());
        Path failuresPath = failuresFile(out);
        Map<String, Failure> previous = readFailures(failuresPath);
        CountingTeacher counting = new CountingTeacher(teacher);
        Progress progress = new Progress(job.name(), todo.size(), err, terminal);
        List<Failure> failed = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger next = new AtomicInteger();
        AtomicInteger written = new AtomicInteger();
        AtomicReference<Throwable> fatal = new AtomicReference<>();

        try (OutputLog log = OutputLog.append(out); OutputLog failLog = OutputLog.append(failuresPath)) {
            Runnable worker = () -> {
                for (int i; fatal.get() == null && (i = next.getAndIncrement()) < todo.size(); ) {
                    Item item = todo.get(i);
                    ObjectNode record;
                    Failure failure = null;
                    try {
                        record = job.run(item, counting);
                    } catch (TeacherException e) {
                        record = null;
                        failure = failure(item, e.getMessage(), e.status(), previous);
                    } catch (RuntimeException e) {
                        // a bug or an odd record must not stop a 52K-item run: list it and go on
                        record = null;
                        failure = failure(item, "internal error: " + e, 0, previous);
                    }
                    try {
                        if (record != null) {
                            log.write(item.id(), record);
                            written.incrementAndGet();
                        } else {
                            failed.add(failure);
                            failLog.writeLine(JSON.valueToTree(failure));
                        }
                    } catch (IOException e) {
                        fatal.compareAndSet(null, e);
                        return;
                    }
                    if (!options.quiet()) progress.finished(record != null);
                }
            };
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < Math.min(options.concurrency(), Math.max(todo.size(), 1)); w++) {
                threads.add(Thread.ofVirtual().name(job.name() + "-" + w).uncaughtExceptionHandler((t, e) -> fatal.compareAndSet(null, e))
                        .start(worker));
            }
            for (Thread t : threads) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    fatal.compareAndSet(null, e);
                    threads.forEach(Thread::interrupt);
                }
            }
        }
        if (!options.quiet()) progress.end();
        Throwable f = fatal.get();
        if (f instanceof IOException e) throw new IOException("could not write " + out + ": " + e.getMessage(), e);
        if (f instanceof Error e) throw e;
        if (f instanceof RuntimeException e) throw e;
        if (f != null) throw new IllegalStateException("the " + job.name() + " run was interrupted", f);

        // the failures file lists what is still failing: this run's failures, and earlier ones not tried this time
        Set<String> tried = new HashSet<>();
        todo.forEach(it -> tried.add(it.id()));
        List<Failure> stillFailing = new ArrayList<>();
        for (Failure p : previous.values()) if (!tried.contains(p.id()) && !done.containsKey(p.id())) stillFailing.add(p);
        stillFailing.addAll(failed);
        writeFailures(failuresPath, stillFailing);

        List<Failure> failedInOrder = new ArrayList<>(failed);
        Map<String, Integer> order = new HashMap<>();
        for (int i = 0; i < items.size(); i++) order.put(items.get(i).id(), i);
        failedInOrder.sort((a, b) -> Integer.compare(order.get(a.id()), order.get(b.id())));
        int left = items.size() - done.size() - todo.size();
        String usage = teacher instanceof UsageReport u ? u.usageSummary() : null;
        return new RunSummary(items.size(), done.size(), written.get(), List.copyOf(failedInOrder), left, counting.calls.sum(),
                counting.promptTokens.sum(), counting.completionTokens.sum(), (System.nanoTime() - t0) / 1e9, usage);
    }

    /**
     * Writes the released JSON file: the output's records in input order through {@link Job#export},
     * atomically (a temporary file renamed over {@code exportFile}). Returns how many items had no
     * record (not done yet, or failed).
     */
    public int export(Path exportFile) throws IOException {
        Map<String, ObjectNode> done = readOutput(false);
        List<ObjectNode> records = new ArrayList<>();
        for (Item it : items) {
            ObjectNode r = done.get(it.id());
            if (r != null) records.add(r);
        }
        JsonNode released = job.export(records);
        writeAtomically(exportFile, JSON.writer().with(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(released));
        return items.size() - records.size();
    }

    /** The output's records by id; an id the input does not have means the output belongs to another input. */
    private Map<String, ObjectNode> readOutput(boolean repair) throws IOException {
        Map<String, ObjectNode> done = OutputLog.read(out, repair, err);
        Set<String> ids = new HashSet<>();
        items.forEach(it -> ids.add(it.id()));
        for (String id : done.keySet()) {
            if (!ids.contains(id)) throw new IOException(out + " has a record with id " + id + " that the " + job.name()
                    + " input does not have; is it the output of another input?");
        }
        err.flush();
        return done;
    }

    private static Failure failure(Item item, String reason, int status, Map<String, Failure> previous) {
        Failure before = previous.get(item.id());
        return new Failure(item.id(), reason == null ? "no reason given" : reason, status, before == null ? 1 : before.attempts() + 1);
    }

    /** The failures of earlier runs; this file is only bookkeeping, so lines it cannot read are skipped. */
    private static Map<String, Failure> readFailures(Path file) throws IOException {
        Map<String, Failure> out = new LinkedHashMap<>();
        if (!Files.exists(file)) return out;
        for (String line : Files.readAllLines(file)) {
            try {
                Failure f = JSON.readValue(line, Failure.class);
                if (f.id() != null) out.put(f.id(), f);
            } catch (IOException e) {
                // a partial line from a killed run
            }
        }
        return out;
    }

    private static void writeFailures(Path file, List<Failure> failures) throws IOException {
        if (failures.isEmpty()) {
            Files.deleteIfExists(file);
            return;
        }
        StringBuilder sb = new StringBuilder();
        for (Failure f : failures) sb.append(JSON.writeValueAsString(f)).append('\n');
        writeAtomically(file, sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }

    /**
     * Writes {@code file} whole or not at all ({@link AtomicWrite}): a hidden temp file
     * {@code .NAME.datagen-PID-RANDOM.tmp} beside it, forced to disk, renamed over it; a temp file a
     * killed run left is removed first. The result has the permissions the user's umask gives.
     */
    static void writeAtomically(Path file, byte[] bytes) throws IOException {
        AtomicWrite.write(file, WRITER, bytes);
    }

    /** Counts the teacher's requests and tokens for the summary. */
    private static final class CountingTeacher implements Teacher {
        final Teacher teacher;
        final LongAdder calls = new LongAdder();
        final LongAdder promptTokens = new LongAdder();
        final LongAdder completionTokens = new LongAdder();

        CountingTeacher(Teacher teacher) {
            this.teacher = teacher;
        }

        @Override
        public ChatResponse chat(ChatRequest request) throws TeacherException {
            calls.increment();
            ChatResponse r = teacher.chat(request);
            promptTokens.add(r.promptTokens());
            completionTokens.add(r.completionTokens());
            return r;
        }
    }
}
