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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
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
 * Runs a {@link Job} over its items into an append-only JSONL output, resumably and by key, never by
 * position: an item is done when a line holds its key (its own id, or its request's hash; with an own
 * id also the content's hash) made with this run's settings, wherever the item now stands. The rest
 * run on {@code concurrency} virtual threads, each request once however many positions ask it, and
 * each finished record is appended as one line. An output of other settings is refused, never mixed
 * in. Failures go to {@code answers.failures.jsonl} with the reason and are tried again by the next
 * run. {@link #export} turns the output into the released JSON file: the current input, in its order.
 */
public final class JobRunner {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The tag of this runner's temp files (the export and the failures file). */
    static final String WRITER = "datagen";

    private final Job job;
    private final RunSettings settings;
    private final List<KeyedItem> items;
    /** Each request once (by {@link KeyedItem#identity}), with every position that asks it. */
    private final Map<String, List<KeyedItem>> requests;
    private final Path out;
    private final PrintWriter err;

    /**
     * {@code model}: the teacher's model name, recorded with the job's settings on every line;
     * {@code err}: progress and notes (stderr). Records with the same own id are an error naming them.
     */
    public JobRunner(Job job, String model, List<Item> items, Path out, PrintWriter err) {
        this.job = job;
        this.settings = settings(job, model);
        List<KeyedItem> keyed = new ArrayList<>(items.size());
        for (Item it : items) keyed.add(KeyedItem.of(it));
        this.items = List.copyOf(keyed);
        this.out = out;
        this.err = err;
        this.requests = KeyedItem.requests(this.items, err);
        err.flush();
    }

    /** What every line of a run of {@code job} asking {@code model} records: the job's settings, its prompts' hash and the model. */
    public static RunSettings settings(Job job, String model) {
        return new RunSettings(job.settings().deepCopy()).put("prompt", ContentKey.ofText(String.join("\u0000", job.prompts())))
                .put("model", model);
    }

    /** This run's settings, as its lines record them. */
    public RunSettings settings() {
        return settings;
    }

    /** The failures file next to {@code out}: {@code answers.jsonl} → {@code answers.failures.jsonl}. */
    public static Path failuresFile(Path out) {
        return FailureLog.file(out);
    }

    /** The requests a run would do: not done yet, in input order, at most {@code limit}. */
    private List<KeyedItem> todo(OutputState state, int limit) {
        List<KeyedItem> todo = new ArrayList<>();
        for (Map.Entry<String, List<KeyedItem>> r : requests.entrySet()) {
            if (limit >= 0 && todo.size() >= limit) break;
            if (!state.done().containsKey(r.getKey())) todo.add(r.getValue().getFirst());
        }
        return todo;
    }

    /** {@code --dry-run}: the first requests of the first items still to do, as JSON on {@code stdout}; sends and writes nothing. */
    public void dryRun(RunOptions options, PrintWriter stdout) throws IOException {
        OutputState state = read(false);
        List<KeyedItem> todo = todo(state, options.limit());
        int done = state.donePositions(requests);
        stdout.printf("%s: %d items, %d already done, %d to do (%d new); %d lines of %s match no item of the input%s; the requests of the first %d:%n",
                job.name(), items.size(), done, todo.size(), items.size() - done, state.stale(), out,
                state.stale() > 0 ? " (kept, not exported)" : "", Math.min(options.previewItems(), todo.size()));
        for (KeyedItem k : todo.subList(0, Math.min(options.previewItems(), todo.size()))) {
            for (ChatRequest r : job.preview(k.item())) {
                ObjectNode n = JSON.createObjectNode().put("id", k.item().id()).put("key", k.key());
                n.set("messages", JSON.valueToTree(r.messages()));
                n.put("temperature", r.temperature()).put("max_tokens", r.maxTokens());
                stdout.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n));
            }
        }
        stdout.flush();
    }

    /** Runs every request not done yet (at most {@code limit}) and appends its record to the output. */
    public RunSummary run(Teacher teacher, RunOptions options, boolean terminal) throws IOException {
        if (options.dryRun()) throw new IllegalArgumentException("a dry run is dryRun(), not run()");
        long t0 = System.nanoTime();
        OutputState state = read(true);
        List<KeyedItem> todo = todo(state, options.limit());
        Path failuresPath = failuresFile(out);
        FailureLog previous = FailureLog.read(failuresPath, settings);
        CountingTeacher counting = new CountingTeacher(teacher);
        Progress progress = new Progress(job.name(), todo.size(), err, terminal);
        Map<String, Failure> failed = new ConcurrentHashMap<>();
        Set<String> written = ConcurrentHashMap.newKeySet();
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> fatal = new AtomicReference<>();

        try (OutputLog log = OutputLog.append(out); OutputLog failLog = OutputLog.append(failuresPath)) {
            // records an earlier version wrote by position, written again with their keys so that a later
            // change of the input cannot pair them with other items
            for (Map.Entry<String, ObjectNode> u : state.upgrades().entrySet()) write(log, requests.get(u.getKey()).getFirst(), u.getValue());
            Runnable worker = () -> {
                for (int i; fatal.get() == null && (i = next.getAndIncrement()) < todo.size(); ) {
                    KeyedItem item = todo.get(i);
                    ObjectNode record;
                    Failure failure = null;
                    try {
                        record = job.run(item.item(), counting);
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
                            write(log, item, record);
                            written.add(item.identity());
                        } else {
                            failed.put(item.identity(), failure);
                            failLog.writeLine(FailureLog.line(item, failure, settings));
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

        // the failures file lists what is still failing: this run's failures, and earlier ones of the input not tried this time
        Set<String> tried = new HashSet<>();
        todo.forEach(it -> tried.add(it.identity()));
        List<ObjectNode> stillFailing = new ArrayList<>();
        List<Failure> failedInOrder = new ArrayList<>();
        int donePositions = 0, leftPositions = 0;
        for (Map.Entry<String, List<KeyedItem>> r : requests.entrySet()) {
            KeyedItem first = r.getValue().getFirst();
            Failure now = failed.get(r.getKey()), before = previous.previous(first);
            if (now != null) {
                failedInOrder.add(now);
                stillFailing.add(FailureLog.line(first, now, settings));
            } else if (before != null && !tried.contains(r.getKey()) && !state.done().containsKey(r.getKey())) {
                stillFailing.add(FailureLog.line(first, before, settings));
            }
            if (written.contains(r.getKey())) donePositions += r.getValue().size();
            else if (!state.done().containsKey(r.getKey()) && !tried.contains(r.getKey())) leftPositions += r.getValue().size();
        }
        FailureLog.write(failuresPath, stillFailing);

        int alreadyDone = state.donePositions(requests);
        String usage = teacher instanceof UsageReport u ? u.usageSummary() : null;
        return new RunSummary(items.size(), alreadyDone, items.size() - alreadyDone, state.stale(), donePositions, List.copyOf(failedInOrder),
                leftPositions, counting.calls.sum(), counting.promptTokens.sum(), counting.completionTokens.sum(), (System.nanoTime() - t0) / 1e9,
                usage);
    }

    private void write(OutputLog log, KeyedItem item, ObjectNode record) throws IOException {
        log.write(item.key(), item.contentKey(), settings.values(), record);
    }

    /**
     * The records of the input's items that are done, in input order, each as {@link Job#resumed} makes
     * it of its line (a request asked at several positions gives a record at each).
     */
    public List<ObjectNode> records() throws IOException {
        OutputState state = read(false);
        List<ObjectNode> records = new ArrayList<>();
        for (KeyedItem k : items) {
            ObjectNode r = state.done().get(k.identity());
            if (r != null) records.add(job.resumed(k.item(), r.deepCopy()));
        }
        return records;
    }

    /**
     * Writes the released JSON file: {@link #records} through {@link Job#export}, atomically (a
     * temporary file renamed over {@code exportFile}). Returns how many items had no record (not done
     * yet, or failed).
     */
    public int export(Path exportFile) throws IOException {
        List<ObjectNode> records = records();
        JsonNode released = job.export(records);
        writeAtomically(exportFile, JSON.writer().with(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(released));
        return items.size() - records.size();
    }

    /** The output's lines matched to the input; a file of other settings is refused. */
    private OutputState read(boolean repair) throws IOException {
        OutputState state = OutputState.of(OutputLog.read(out, repair, err), requests, settings, out, err);
        err.flush();
        return state;
    }

    private static Failure failure(KeyedItem item, String reason, int status, FailureLog previous) {
        Failure before = previous.previous(item);
        return new Failure(item.item().id(), reason == null ? "no reason given" : reason, status, before == null ? 1 : before.attempts() + 1);
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
