package org.gpt4llm.train;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.CommunicatorException;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * {@code --resume} of a job over several nodes (machines). The run folder {@code --out} must be one that
 * every node sees (a shared filesystem, as DeepSpeed assumes): global rank 0 picks its newest complete
 * checkpoint, every rank checks that it reads that same checkpoint, and a rank that cannot is named on
 * every node in one sentence. A node other than 0 writes into a scratch folder of its own; it resumes
 * there from the agreed checkpoint, which the folder links to, with the run's config and metrics copied
 * beside it, so its trainer starts at the same step as node 0's.
 */
public final class ResumeAcrossNodes {
    private ResumeAcrossNodes() {}

    /**
     * Agrees on the checkpoint: called on every node with this node's ranks ({@code comms}, each on the
     * matching one of {@code backends}), {@code gpusPerNode} of them, and the run folder as this node sees
     * it. Returns the checkpoint in {@code runDir}, or empty where rank 0 found none (the run starts over).
     */
    public static Optional<Path> agree(List<Communicator> comms, List<? extends Backend> backends, Path runDir,
                                       int gpusPerNode) throws IOException {
        int steps = -1;
        if (comms.stream().anyMatch(c -> c.rank() == 0)) {
            steps = new CheckpointStore(runDir).latest().map(CheckpointStore::stepOf).orElse(-1);
        }
        int fromRank0 = steps;
        ExecutorService pool = Executors.newFixedThreadPool(comms.size());
        try {
            List<Future<Agreement>> each = new ArrayList<>();
            for (int i = 0; i < comms.size(); i++) {
                Communicator c = comms.get(i);
                Backend be = backends.get(i);
                each.add(pool.submit(() -> agreeOnRank(c, be, runDir, fromRank0)));
            }
            Agreement a = null;
            for (Future<Agreement> f : each) a = f.get();
            if (a.step < 0) return Optional.empty();
            Path checkpoint = runDir.resolve("checkpoint-" + a.step);
            if (!a.unreadable.isEmpty()) {
                throw new IllegalArgumentException("--resume: " + ranks(a.unreadable, gpusPerNode) + " cannot read "
                        + checkpoint.getFileName() + " of --out " + runDir + ", which rank 0 resumes from: every node needs"
                        + " --out on a filesystem all of them share, at the same path");
            }
            return Optional.of(checkpoint);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IOException(e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommunicatorException("interrupted while the ranks agreed on the checkpoint", e);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The checkpoint's step (-1: none), and the global ranks that cannot read it. */
    private record Agreement(int step, List<Integer> unreadable) {}

    private static Agreement agreeOnRank(Communicator comm, Backend be, Path runDir, int mine) {
        try (Arena arena = Arena.ofConfined()) {
            Tensor step = be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, 1);
            // a step count fits a float exactly up to 2^24
            be.upload(step, Tensor.of(arena, new float[] {mine}, 1));
            comm.broadcast(step, 0);
            int chosen = Math.round(be.download(step)[0]);
            if (chosen < 0) return new Agreement(-1, List.of());
            float[] cannot = new float[comm.size()];
            cannot[comm.rank()] = readable(runDir.resolve("checkpoint-" + chosen)) ? 0 : 1;
            Tensor all = be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, comm.size());
            be.upload(all, Tensor.of(arena, cannot, comm.size()));
            comm.allReduce(all, Communicator.ReduceOp.SUM);
            float[] summed = be.download(all);
            List<Integer> unreadable = new ArrayList<>();
            for (int r = 0; r < summed.length; r++) if (summed[r] > 0) unreadable.add(r);
            return new Agreement(chosen, unreadable);
        }
    }

    /** Whether the checkpoint folder is complete (its optimizer state in one file, or in every rank's) and every file in it can be read here. */
    private static boolean readable(Path checkpoint) {
        if (!Files.isReadable(checkpoint.resolve(CheckpointStore.STATE))) return false;
        try (Stream<Path> files = Files.walk(checkpoint)) {
            if (!files.allMatch(Files::isReadable)) return false;
            TrainerState.read(checkpoint.resolve(CheckpointStore.STATE));
            if (!Files.exists(checkpoint.resolve(OptimizerShards.INDEX))) return Files.isReadable(checkpoint.resolve(CheckpointStore.OPTIMIZER));
            // the ranks' files of a sharded optimizer state: every one the index lists
            for (OptimizerShards.Index.Rank r : OptimizerShards.Index.read(checkpoint).ranks()) {
                if (!Files.isReadable(checkpoint.resolve(r.file()))) return false;
            }
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** "rank 3 (node 1)", "ranks 2, 3 (node 1)" or "ranks 1 (node 0), 2 (node 1)". */
    private static String ranks(List<Integer> ranks, int gpusPerNode) {
        StringBuilder b = new StringBuilder(ranks.size() == 1 ? "rank " : "ranks ");
        for (int i = 0; i < ranks.size(); i++) {
            int r = ranks.get(i), node = r / gpusPerNode;
            if (i > 0) b.append(", ");
            b.append(r);
            boolean lastOfNode = i == ranks.size() - 1 || ranks.get(i + 1) / gpusPerNode != node;
            if (lastOfNode) b.append(" (node ").append(node).append(')');
        }
        return b.toString();
    }

    /**
     * Prepares {@code scratchRun}, the folder a node other than 0 writes, to resume from {@code checkpoint}
     * of the shared {@code runDir}: a link to the checkpoint, and copies of the run's {@code config.json} and
     * {@code metrics.jsonl} (which the trainer checks and cuts back to the checkpoint's step).
     */
    public static void linkScratch(Path runDir, Path scratchRun, Optional<Path> checkpoint) throws IOException {
        if (checkpoint.isEmpty()) return;
        Files.createDirectories(scratchRun);
        for (String f : List.of(Trainer.CONFIG, Trainer.METRICS)) {
            Path from = runDir.resolve(f);
            if (Files.isRegularFile(from)) Files.copy(from, scratchRun.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        Path link = scratchRun.resolve(checkpoint.get().getFileName());
        Files.deleteIfExists(link);
        Files.createSymbolicLink(link, checkpoint.get().toAbsolutePath());
    }
}
