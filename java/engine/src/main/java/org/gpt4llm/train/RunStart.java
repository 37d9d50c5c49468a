package org.gpt4llm.train;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.gpt4llm.io.FileFingerprint;

/**
 * What the run folder {@code --out} means for a run about to start, found before any model or data is
 * loaded, so that a refusal costs nothing: a fresh run needs a folder without a run in it; a resumed
 * run needs the settings of its {@code config.json} and the {@code --data} files the checkpoint it
 * continues from was trained on (unless {@code --accept-changed-data}), and has nothing to do when
 * {@code final/} already holds the last step.
 */
public final class RunStart {
    /**
     * Keys that may differ between a run and its resumption without changing what it computes
     * ({@code recompute} trades memory for work, so a run may turn it on to fit after all).
     */
    private static final Set<String> RESUMABLE_CHANGES = Set.of("resume", "keep", "save_every", "backend", "out", "model",
            "accept_changed_data", "recompute");

    private final TrainConfig cfg;
    private final TrainerState finished;
    private final List<FileFingerprint> dataFiles;
    private final List<String> notes;

    private RunStart(TrainConfig cfg, TrainerState finished, List<FileFingerprint> dataFiles, List<String> notes) {
        this.cfg = cfg;
        this.finished = finished;
        this.dataFiles = List.copyOf(dataFiles);
        this.notes = List.copyOf(notes);
    }

    /**
     * Checks {@code --out} for the run {@code cfg} describes, and fingerprints its {@code --data} files
     * (read once, whole). Throws an {@link IllegalArgumentException} of one sentence when the run must
     * not start: a fresh run into a folder that holds one, a resumed run with other settings, or with a
     * data file that changed since its checkpoint was written.
     */
    public static RunStart check(TrainConfig cfg) throws IOException {
        Path runDir = Path.of(cfg.out());
        CheckpointStore store = new CheckpointStore(runDir);
        if (!cfg.resume()) {
            if (Files.exists(runDir.resolve(Trainer.METRICS)) || !store.list().isEmpty()) {
                throw new IllegalArgumentException("--out " + runDir + " already holds a run (metrics.jsonl or checkpoints);"
                        + " pass --resume to continue it or choose another --out");
            }
            return new RunStart(cfg, null, fingerprints(cfg), List.of());
        }
        checkSameRun(cfg, runDir.resolve(Trainer.CONFIG));
        Optional<TrainerState> done = store.finished();
        if (done.isPresent() && done.get().step() >= done.get().totalSteps()) {
            return new RunStart(cfg, done.get(), List.of(), List.of());
        }
        List<FileFingerprint> now = fingerprints(cfg);
        List<String> notes = new ArrayList<>();
        Optional<Path> latest = store.latest();
        if (latest.isPresent()) {
            List<FileFingerprint> then = TrainerState.read(latest.get().resolve(CheckpointStore.STATE)).dataFiles();
            if (then == null) {
                notes.add("warning: " + latest.get() + " was written before data files were fingerprinted, so --resume"
                        + " cannot check that --data is what it was trained on");
            } else {
                for (FileFingerprint f : now) compare(cfg, latest.get(), then, f, notes);
            }
        }
        return new RunStart(cfg, null, now, notes);
    }

    /** Refuses (or, with --accept-changed-data, notes) a data file that is not as the checkpoint saw it. */
    private static void compare(TrainConfig cfg, Path checkpoint, List<FileFingerprint> then, FileFingerprint now,
                                List<String> notes) {
        FileFingerprint before = then.stream().filter(f -> f.path().equals(now.path())).findFirst().orElse(null);
        String change = before == null ? "it is not one of the files it was trained on" : before.change(now);
        if (change == null) return;
        if (!cfg.acceptChangedData()) {
            throw new IllegalArgumentException("--resume: the --data file " + now.path() + " has changed since "
                    + checkpoint.getFileName() + " was written (" + change + "); pass --accept-changed-data to continue"
                    + " training on it as it is now");
        }
        notes.add("warning: the --data file " + now.path() + " has changed since " + checkpoint.getFileName()
                + " was written (" + change + "); continuing on it as it is now (--accept-changed-data)");
    }

    private static List<FileFingerprint> fingerprints(TrainConfig cfg) throws IOException {
        List<FileFingerprint> out = new ArrayList<>();
        for (String f : cfg.data()) {
            try {
                out.add(FileFingerprint.of(f));
            } catch (IOException e) {
                throw new IOException("--data " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** A resumed run must compute the same thing: every key but the harmless ones must match the saved config. */
    private static void checkSameRun(TrainConfig cfg, Path configFile) throws IOException {
        if (!Files.exists(configFile)) return; // nothing was started there: a fresh run
        // read back as a record, so that both sides have the same JSON types
        JsonNode saved = TrainConfig.JSON.valueToTree(TrainConfig.resolve(configFile, null));
        JsonNode now = TrainConfig.JSON.valueToTree(cfg);
        for (Map.Entry<String, JsonNode> e : now.properties()) {
            if (RESUMABLE_CHANGES.contains(e.getKey())) continue;
            if (!e.getValue().equals(saved.get(e.getKey()))) {
                throw new IllegalArgumentException("--resume: " + configFile + " has " + e.getKey() + " = "
                        + saved.get(e.getKey()) + " but this run asks for " + e.getValue()
                        + "; a resumed run must use the same settings");
            }
        }
    }

    /** The configuration this was checked for. */
    TrainConfig config() {
        return cfg;
    }

    /** Whether {@code --resume} found the run finished: {@code final/} holds its last step, nothing is left to do. */
    public boolean finished() {
        return finished != null;
    }

    /** The trainer state of {@code final/} of a finished run. */
    TrainerState finalState() {
        return finished;
    }

    /** What to tell the user about a finished run, one sentence. */
    public String finishedMessage() {
        return "--resume: " + cfg.out() + " is finished (final/ holds step " + finished.step() + " of "
                + finished.totalSteps() + "), so there is nothing to do; train further into another --out";
    }

    /** The --data files as they are now (empty for a finished run), recorded in every checkpoint. */
    List<FileFingerprint> dataFiles() {
        return dataFiles;
    }

    /** One-line warnings for the user (a checkpoint that predates fingerprints, changed data accepted). */
    public List<String> notes() {
        return notes;
    }
}
