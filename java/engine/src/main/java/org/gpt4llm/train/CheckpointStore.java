package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.datagen.files.FileErrors;
import org.gpt4llm.datagen.files.TempFiles;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.model.FiniteWeights;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The {@code checkpoint-STEP/} folders of a run. Each holds what was trained ({@link TrainableModel#save}),
 * {@code optimizer.safetensors} (AdamW's {@code exp_avg.NAME} and {@code exp_avg_sq.NAME}, the fp32
 * {@code master.NAME} of every weight the backend stores in a lower precision, so that a GPU run
 * resumes bit-identically, and the update count in the metadata), or, where the optimizer state is sharded
 * over devices, each rank's file of its shard and their index ({@link OptimizerShards}), and {@code trainer_state.json} (step,
 * scheduler step, data position, seeds, metrics lines, the fingerprints of the data files). A
 * checkpoint is written into a hidden temp folder {@code .checkpoint-STEP.checkpoint-PID-RANDOM.tmp}
 * and renamed into place whole, so a folder named {@code checkpoint-STEP} is always complete; a save
 * that fails removes its temp folder, and one a killed run left is removed by the next run
 * ({@link #removeStaleTemps}).
 */
final class CheckpointStore {
    static final String STATE = "trainer_state.json";
    static final String OPTIMIZER = "optimizer.safetensors";
    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");
    /** The tag of the temp folders checkpoints are written into. */
    static final String WRITER = "checkpoint";

    private final Path runDir;

    CheckpointStore(Path runDir) {
        this.runDir = runDir;
    }

    /** Writes {@code dir} (checkpoint-STEP or final) atomically, replacing nothing that exists. */
    Path save(String name, TrainableModel<?> model, AdamWOptimizer opt, TrainerState state) throws IOException {
        Path dir = runDir.resolve(name), tmp;
        try {
            tmp = TempFiles.createDirectory(dir, WRITER);
        } catch (IOException e) {
            throw FileErrors.about("write", dir, e);
        }
        try {
            model.save(tmp);
            if (opt != null) {
                Backend be = model.backend();
                try (Arena host = Arena.ofConfined()) {
                    Map<String, Tensor> tensors = new LinkedHashMap<>();
                    optimizerState(opt).forEach((k, t) -> tensors.put(k, opt.offloaded() ? t : be.toHost(t, host)));
                    SafeTensors.write(tmp.resolve(OPTIMIZER), tensors, Map.of("step", Integer.toString(opt.stepCount())));
                }
            }
            state.write(tmp.resolve(STATE));
            deleteTree(dir); // only final/ of an earlier attempt can be here: checkpoint steps only grow
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException | Error e) {
            throw failed(dir, tmp, e);
        }
        AtomicFiles.syncDirectory(runDir);
        return dir;
    }

    /**
     * Writes checkpoint {@code name} through {@code engine}, which shards the optimizer state: every rank
     * writes its part of the weights and its shard of the optimizer state into the temp folder, and once all
     * have, the index and {@code state} are written last and the folder is renamed into place, so a
     * checkpoint is complete or absent. On the process of
     * rank 0 this folder is the run's; elsewhere the engine writes into the run folder it shares.
     */
    Path saveSharded(String name, StepEngine<?> engine, TrainerState state) throws IOException {
        Path dir = runDir.resolve(name);
        Path[] tmp = new Path[1];
        try {
            return engine.saveSharded(new StepEngine.ShardedSave() {
                @Override
                public String name() {
                    return name;
                }

                @Override
                public Path runDir() {
                    return runDir;
                }

                @Override
                public Path begin() throws IOException {
                    tmp[0] = TempFiles.createDirectory(dir, WRITER);
                    return tmp[0];
                }

                @Override
                public Path commit(Path into, OptimizerShards.Index index) throws IOException {
                    index.write(into);
                    state.write(into.resolve(STATE));
                    deleteTree(dir);
                    Files.move(into, dir, StandardCopyOption.ATOMIC_MOVE);
                    tmp[0] = null;
                    AtomicFiles.syncDirectory(runDir);
                    return dir;
                }
            });
        } catch (IOException | RuntimeException | Error e) {
            if (tmp[0] != null) throw failed(dir, tmp[0], e);
            throw e;
        }
    }

    /**
     * Removes a failed save's temp folder (a full disk or a failed write: nothing half-written stays
     * behind) and says what failed about the checkpoint, not the temp folder it was written in.
     */
    private static IOException failed(Path dir, Path tmp, Throwable e) {
        deleteTreeQuietly(tmp, e);
        if (e instanceof IOException io) return FileErrors.about("write", dir, io);
        if (e instanceof CheckpointException c) throw CheckpointException.writing(dir, c);
        if (e instanceof RuntimeException re) throw re;
        throw (Error) e;
    }

    /**
     * Removes what a killed run was writing into the run folder: temp folders of checkpoints, temp
     * files of its JSON files and plots.
     */
    void removeStaleTemps() throws IOException {
        for (String writer : List.of(WRITER, AtomicFiles.WRITER, LossPlot.WRITER)) TempFiles.removeStaleIn(runDir, writer);
    }

    /** The trainer state of {@code final/} when the run finished writing it, else empty. */
    Optional<TrainerState> finished() throws IOException {
        Path state = runDir.resolve("final").resolve(STATE);
        return Files.isRegularFile(state) ? Optional.of(TrainerState.read(state)) : Optional.empty();
    }

    /** The complete checkpoints, oldest first. */
    List<Path> list() throws IOException {
        if (!Files.isDirectory(runDir)) return List.of();
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(runDir)) {
            s.filter(p -> NAME.matcher(p.getFileName().toString()).matches() && Files.isRegularFile(p.resolve(STATE)))
                    .forEach(out::add);
        }
        out.sort(Comparator.comparingInt(CheckpointStore::stepOf));
        return out;
    }

    Optional<Path> latest() throws IOException {
        List<Path> all = list();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast());
    }

    static int stepOf(Path checkpoint) {
        Matcher m = NAME.matcher(checkpoint.getFileName().toString());
        if (!m.matches()) throw new IllegalArgumentException(checkpoint + " is not a checkpoint-STEP folder");
        return Integer.parseInt(m.group(1));
    }

    /** Removes all but the newest {@code keep} checkpoints (0 keeps all). */
    void prune(int keep) throws IOException {
        if (keep <= 0) return;
        List<Path> all = list();
        for (int i = 0; i < all.size() - keep; i++) deleteTree(all.get(i));
    }

    /**
     * Loads the trained weights and the optimizer state of {@code dir}; returns its trainer state. A
     * checkpoint without fp32 master weights (written before they were saved) resumes from its weights
     * in their stored precision, with a one-line warning to {@code notes} when the optimizer keeps masters.
     */
    TrainerState restore(Path dir, TrainableModel<?> model, AdamWOptimizer opt, Consumer<String> notes) throws IOException {
        TrainerState state = TrainerState.read(dir.resolve(STATE));
        model.restore(dir);
        Backend be = model.backend();
        try (Arena mapped = Arena.ofShared()) {
            SavedOptimizerState saved = SavedOptimizerState.open(dir, mapped);
            Map<String, Tensor> masters = opt.masters();
            boolean withMasters = masters.keySet().stream().anyMatch(k -> saved.shape(OptimizerStateNames.MASTER + k) != null);
            for (var e : optimizerState(opt).entrySet()) {
                String name = e.getKey();
                if (!withMasters && name.startsWith(OptimizerStateNames.MASTER)) continue;
                long[] shape = saved.shape(name);
                if (shape == null) throw new IOException(sourceOf(dir) + ": tensor " + name + " is missing");
                if (!java.util.Arrays.equals(shape, e.getValue().shape())) {
                    throw new IOException(sourceOf(dir) + ": tensor " + name + " has shape " + java.util.Arrays.toString(shape)
                            + " but the model's is " + java.util.Arrays.toString(e.getValue().shape()));
                }
                saved.copyInto(be, opt.offloaded(), name, 0, e.getValue());
            }
            if (!masters.isEmpty() && !withMasters) warnNoMasters(dir, notes);
            opt.restored(saved.step(), withMasters);
        }
        return state;
    }

    /**
     * Hands the optimizer state of checkpoint {@code dir}, as saved (by any number of devices), to an engine
     * that shards it itself (the trainer's optimizer then holds none); the warning of {@link #restore} where
     * the checkpoint has no masters and {@code model} keeps weights in a lower precision.
     */
    static void restoreSharded(Path dir, TrainableModel<?> model, StepEngine<?> engine, Consumer<String> notes)
            throws IOException {
        try (Arena mapped = Arena.ofShared()) {
            SavedOptimizerState saved = SavedOptimizerState.open(dir, mapped);
            boolean lowPrecision = model.trainableParameters().values().stream().anyMatch(t -> t.dtype() != DType.F32);
            if (lowPrecision && !saved.hasMasters()) warnNoMasters(dir, notes);
            engine.restoreOptimizerState(saved);
        }
    }

    /** The file that describes checkpoint {@code dir}'s optimizer state: one device's file, or the index of the ranks' files. */
    static Path sourceOf(Path dir) {
        Path index = dir.resolve(OptimizerShards.INDEX);
        return Files.exists(index) ? index : dir.resolve(OPTIMIZER);
    }

    private static void warnNoMasters(Path dir, Consumer<String> notes) {
        notes.accept("warning: " + sourceOf(dir) + " holds no fp32 master weights (it was written before they were"
                + " saved), so the resumed run matches an uninterrupted one only up to bf16 rounding of the weights");
    }

    /** The optimizer's tensors under their names in optimizer.safetensors: moments, then the fp32 masters it keeps. */
    private static Map<String, Tensor> optimizerState(AdamWOptimizer opt) {
        return OptimizerStateNames.named(opt.moments(false), opt.moments(true), opt.masters());
    }

    /** Copies the tensors of the model folder {@code dir} into {@code params} (same names), for a resumed run. */
    static void restoreWeights(Path dir, Backend be, Map<String, Tensor> params) throws IOException {
        try (Arena mapping = Arena.ofShared()) {
            Map<String, Tensor> saved = Checkpoint.load(dir, mapping);
            for (var e : params.entrySet()) {
                Tensor t = saved.get(e.getKey());
                if (t == null) throw new IOException(dir + ": tensor " + e.getKey() + " is missing");
                FiniteWeights.upload(be, e.getValue(), t, e.getKey(), () -> Checkpoint.fileOf(dir, e.getKey()).toString());
            }
        }
    }

    /**
     * Deletes checkpoint folder {@code dir} (or final/) with everything in it; none there is fine. It is
     * renamed to a temp name first, so that a run killed while deleting leaves a temp folder, which the
     * next run removes ({@link #removeStaleTemps}), never a checkpoint holding part of its files.
     */
    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        Path retired = TempFiles.name(dir, WRITER);
        Files.move(dir, retired, StandardCopyOption.ATOMIC_MOVE);
        TempFiles.deleteTree(retired);
    }

    /** Removes a failed save's temp folder, keeping the save's own error as the one reported. */
    private static void deleteTreeQuietly(Path tmp, Throwable failure) {
        try {
            TempFiles.deleteTree(tmp);
        } catch (IOException suppressed) {
            failure.addSuppressed(suppressed);
        }
    }
}
