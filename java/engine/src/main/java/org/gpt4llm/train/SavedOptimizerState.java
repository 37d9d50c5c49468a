package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.model.FiniteWeights;
import org.gpt4llm.tensor.Tensor;

/**
 * A checkpoint's optimizer state as a reader sees it, whoever wrote it: one device's (or an older
 * gathered) {@code optimizer.safetensors}, or the ranks' files of {@link OptimizerShards}. A reader asks
 * for any element range of any tensor ({@link #copyInto}) and gets it from the files that hold it, so a
 * state saved on N devices re-shards onto M, or onto one. The files are mapped, not read: a rank reads
 * only the pages of the ranges it takes. A value that is NaN or infinite is refused in one sentence
 * naming the file, the tensor and the element. The tensors stay readable while the arena given to
 * {@link #open} is; the reads may run on several threads at once.
 */
public final class SavedOptimizerState {
    /** Elements [start, start+count) of a tensor, as stored (flat) in {@code file}. */
    private record Piece(long start, long count, Tensor values, String file) {}

    private final int step;
    private final Map<String, long[]> shapes;
    private final Map<String, List<Piece>> pieces;

    private SavedOptimizerState(int step, Map<String, long[]> shapes, Map<String, List<Piece>> pieces) {
        this.step = step;
        this.shapes = shapes;
        this.pieces = pieces;
    }

    /** The optimizer state of checkpoint folder {@code dir}, its files mapped into {@code arena}. */
    public static SavedOptimizerState open(Path dir, Arena arena) throws IOException {
        if (Files.exists(dir.resolve(OptimizerShards.INDEX))) return sharded(dir, arena);
        SafeTensors file = SafeTensors.open(dir.resolve(CheckpointStore.OPTIMIZER), arena);
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, List<Piece>> pieces = new LinkedHashMap<>();
        for (var e : file.tensors().entrySet()) {
            Tensor t = e.getValue();
            shapes.put(e.getKey(), t.shape());
            pieces.put(e.getKey(), List.of(new Piece(0, t.numel(), t.view(t.numel()), file.file().toString())));
        }
        String step = file.metadata().get("step");
        if (step == null) throw new IOException(file.file() + ": the metadata has no step (the optimizer's update count)");
        return new SavedOptimizerState(Integer.parseInt(step), shapes, pieces);
    }

    private static SavedOptimizerState sharded(Path dir, Arena arena) throws IOException {
        OptimizerShards.Index index = OptimizerShards.Index.read(dir);
        Map<String, List<Piece>> pieces = new LinkedHashMap<>();
        for (String key : index.tensors().keySet()) pieces.put(key, new ArrayList<>());
        for (OptimizerShards.Index.Rank rank : index.ranks()) {
            Path f = dir.resolve(rank.file());
            if (!Files.isRegularFile(f)) {
                throw new CheckpointException(f + " is missing: the optimizer state of " + dir + " was written by "
                        + index.worldSize() + " ranks, one file each, and cannot be read without every one of them");
            }
            SafeTensors file = SafeTensors.open(f, arena);
            for (var s : rank.slices().entrySet()) {
                String key = s.getKey();
                long start = s.getValue()[0], count = s.getValue()[1];
                if (!file.contains(key)) {
                    throw new CheckpointException(f + ": tensor " + key + " is missing, which " + OptimizerShards.INDEX
                            + " says this rank's file holds");
                }
                Tensor t = file.tensor(key);
                if (t.numel() != count) {
                    throw new CheckpointException(f + ": tensor " + key + " has " + t.numel() + " elements, but "
                            + OptimizerShards.INDEX + " gives this rank " + count);
                }
                pieces.get(key).add(new Piece(start, count, t.view(count), f.toString()));
            }
        }
        for (var e : pieces.entrySet()) {
            e.getValue().sort(Comparator.comparingLong(Piece::start));
            long covered = 0, numel = Tensor.numel(index.tensors().get(e.getKey()));
            for (Piece p : e.getValue()) {
                if (p.start > covered) break;
                covered = Math.max(covered, p.start + p.count);
            }
            if (covered < numel) {
                throw new CheckpointException(dir.resolve(OptimizerShards.INDEX) + ": no rank's file holds element "
                        + covered + " of tensor " + e.getKey() + " (of " + numel + ")");
            }
        }
        return new SavedOptimizerState(index.step(), new LinkedHashMap<>(index.tensors()), pieces);
    }

    /** The optimizer's update count when the state was saved. */
    public int step() {
        return step;
    }

    /** The tensors' names, as in a one-device {@code optimizer.safetensors}. */
    public Set<String> names() {
        return shapes.keySet();
    }

    /** The whole shape of tensor {@code name}, or null where the state has no such tensor. */
    public long[] shape(String name) {
        return shapes.get(name);
    }

    /** Whether the state holds fp32 masters (a checkpoint written before they were saved holds none). */
    public boolean hasMasters() {
        return shapes.keySet().stream().anyMatch(k -> k.startsWith(OptimizerStateNames.MASTER));
    }

    /**
     * Elements {@code [start, start + dst.numel())} of tensor {@code name} (row-major) into {@code dst}: the
     * backend's memory, or the host's ({@code onHost}); a value that is not finite is refused naming the file
     * it came from, the tensor and the element.
     */
    public void copyInto(Backend be, boolean onHost, String name, long start, Tensor dst) {
        long[] shape = shapes.get(name);
        if (shape == null) throw new IllegalArgumentException("the saved optimizer state has no " + name);
        long n = dst.numel(), end = start + n;
        if (end > Tensor.numel(shape)) {
            throw new IllegalArgumentException("elements " + start + ".." + end + " of " + name + " lie outside its "
                    + Tensor.numel(shape));
        }
        Tensor flat = dst.view(n);
        for (Piece p : pieces.get(name)) {
            long a = Math.max(start, p.start), b = Math.min(end, p.start + p.count);
            if (a >= b) continue;
            FiniteWeights.uploadPart(be, onHost, flat.rows(a - start, b - a), p.values.rows(a - p.start, b - a), name,
                    p::file, a, shape);
        }
    }
}
