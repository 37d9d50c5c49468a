package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.datagen.files.TempFiles;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.InProcessGroup;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.train.parallel.DataParallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --resume} with several nodes, as the nodes of a job meet in this process: one in-process group
 * whose ranks are split between "nodes", each node with its own trainer and run folder (node 0 the run's,
 * the others a scratch folder), as {@code sft --nnodes} sets them up. The nodes agree on rank 0's
 * checkpoint, a node that cannot read it is named, and a run resumed on two nodes gives the uninterrupted
 * run's losses bit for bit.
 */
class ResumeAcrossNodesTest {
    private static final PrintStream SILENT = new PrintStream(OutputStream.nullOutputStream());
    private static final int STEPS = 6;

    @TempDir
    Path tmp;

    private TrainConfig.Builder config(Path out) {
        return Synthetic.builder(out).microBatch(2).maxSteps(STEPS).evalEvery(0).saveEvery(3).keep(0);
    }

    /** Runs {@code work.get(i)} for node i at once, as the nodes' processes would; the first failure is thrown. */
    private static <T> List<T> onEveryNode(List<Callable<T>> work) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(work.size());
        try {
            List<Future<T>> running = new ArrayList<>();
            for (Callable<T> w : work) running.add(pool.submit(w));
            List<T> out = new ArrayList<>();
            for (Future<T> f : running) {
                try {
                    out.add(f.get());
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof Exception x) throw x;
                    throw e;
                }
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    /** A run on one device with checkpoint 3 (and final/ at step 6): the run folder the nodes resume. */
    private Path savedRun(long seed) throws IOException {
        Path run = tmp.resolve("saved");
        try (Backend be = new CpuBackend(1)) {
            FullFineTune m = Synthetic.model(be, seed);
            try {
                new Trainer<>(config(run).build().validate(), m, Synthetic.counting(64, 1), null, true, SILENT).run();
            } finally {
                m.model().close();
            }
        }
        return run;
    }

    @Test
    void theNodesAgreeOnRankZerosCheckpointAndNameTheRanksThatCannotReadIt() throws Exception {
        Path run = savedRun(TestSeeds.next());
        Path elsewhere = Files.createDirectories(tmp.resolve("not-shared"));
        List<Backend> bes = List.of(new CpuBackend(1), new CpuBackend(1), new CpuBackend(1), new CpuBackend(1));
        try {
            // two nodes of two devices: ranks 0, 1 on node 0, ranks 2, 3 on node 1
            List<Communicator> comms = InProcessGroup.create(bes, Duration.ofSeconds(30));
            List<Optional<Path>> agreed = onEveryNode(List.of(
                    () -> ResumeAcrossNodes.agree(comms.subList(0, 2), bes.subList(0, 2), run, 2),
                    () -> ResumeAcrossNodes.agree(comms.subList(2, 4), bes.subList(2, 4), run, 2)));
            assertEquals(List.of(Optional.of(run.resolve("checkpoint-3")), Optional.of(run.resolve("checkpoint-3"))), agreed);

            // node 1 does not see the run folder: every node says so, naming node 1's ranks
            List<Communicator> again = InProcessGroup.create(bes, Duration.ofSeconds(30));
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> onEveryNode(List.of(
                            () -> ResumeAcrossNodes.agree(again.subList(0, 2), bes.subList(0, 2), run, 2),
                            () -> ResumeAcrossNodes.agree(again.subList(2, 4), bes.subList(2, 4), elsewhere, 2))));
            assertEquals("--resume: ranks 2, 3 (node 1) cannot read checkpoint-3 of --out " + run + ", which rank 0 resumes"
                    + " from: every node needs --out on a filesystem all of them share, at the same path", e.getMessage());

            // one rank of node 1 misses a file of it (a copy that lags): that rank alone is named
            Path partial = tmp.resolve("partial");
            Files.createDirectories(partial.resolve("checkpoint-3"));
            try (var files = Files.list(run.resolve("checkpoint-3"))) {
                for (Path f : files.toList()) {
                    if (!f.getFileName().toString().equals(CheckpointStore.OPTIMIZER)) {
                        Files.copy(f, partial.resolve("checkpoint-3").resolve(f.getFileName()));
                    }
                }
            }
            // four nodes of one device each, the last one's copy of the run lacking a file
            List<Communicator> third = InProcessGroup.create(bes, Duration.ofSeconds(30));
            List<Callable<Optional<Path>>> fourNodes = new ArrayList<>();
            for (int r = 0; r < 4; r++) {
                int rank = r;
                fourNodes.add(() -> ResumeAcrossNodes.agree(third.subList(rank, rank + 1), bes.subList(rank, rank + 1),
                        rank == 3 ? partial : run, 1));
            }
            e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> onEveryNode(fourNodes));
            assertTrue(e.getMessage().startsWith("--resume: rank 3 (node 3) cannot read checkpoint-3 of --out "), e.getMessage());
        } finally {
            for (Backend be : bes) be.close();
        }
    }

    /** Losses of node 0's metrics and of node 1's, for a run of two nodes of one device each into {@code out}. */
    private List<double[]> twoNodes(TrainConfig cfg, long seed) throws Exception {
        return twoNodes(cfg, seed, 1, 0);
    }

    /**
     * Losses of node 0's metrics and of node 1's, for a run of two nodes of {@code gpus} devices each into
     * {@code out} under ZeRO {@code zero}, set up as {@code sft --nnodes} sets them up: node 1 writes a
     * scratch folder, and under ZeRO 1, 2 and 3 keeps saving, its ranks writing their shards into {@code out}.
     */
    private List<double[]> twoNodes(TrainConfig cfg, long seed, int gpus, int zero) throws Exception {
        TrainConfig.Builder scratch = cfg.toBuilder().out(tmp.resolve("scratch-" + Path.of(cfg.out()).getFileName()).toString());
        TrainConfig node1 = (zero == 0 ? scratch.saveEvery(0) : scratch).build().validate();
        List<Backend> bes = new ArrayList<>();
        List<FullFineTune> models = new ArrayList<>();
        try {
            // node 1 starts from other weights: everything it trains comes from rank 0 (or the checkpoint)
            for (int r = 0; r < 2 * gpus; r++) {
                bes.add(new CpuBackend(1));
                models.add(Synthetic.model(bes.get(r), r < gpus ? seed : seed + 1));
            }
            List<Communicator> comms = InProcessGroup.create(bes, Duration.ofSeconds(60));
            Path runDir = Path.of(cfg.out());
            List<TrainConfig> cfgs = List.of(cfg, node1);
            List<Callable<double[]>> nodes = new ArrayList<>();
            for (int n = 0; n < 2; n++) {
                int node = n;
                nodes.add(() -> {
                    List<Communicator> mine = comms.subList(node * gpus, (node + 1) * gpus);
                    // as ParallelTraining.startOnThisNode
                    if (cfg.resume()) {
                        Optional<Path> cp = ResumeAcrossNodes.agree(mine, bes.subList(node * gpus, (node + 1) * gpus), runDir, gpus);
                        if (node > 0) ResumeAcrossNodes.linkScratch(runDir, Path.of(node1.out()), cp);
                    }
                    TrainConfig nodeCfg = cfgs.get(node);
                    List<TrainableModel<TokenBatch>> replicas = new ArrayList<>(models.subList(node * gpus, (node + 1) * gpus));
                    DataParallel<TokenBatch> engine = new DataParallel<>(replicas, mine, zero);
                    if (node > 0) engine.sharedRun(runDir);
                    new Trainer<>(nodeCfg, replicas.get(0), Synthetic.counting(64, 1), null, true, SILENT)
                            .withSteps(engine).run(RunStart.check(nodeCfg));
                    List<String> lines = Files.readAllLines(Path.of(nodeCfg.out()).resolve(Trainer.METRICS));
                    assertEquals(STEPS, lines.size(), nodeCfg.out());
                    return lines.stream().mapToDouble(l -> JsonChecks.number(readJson(l), "loss")).toArray();
                });
            }
            return onEveryNode(nodes);
        } finally {
            for (FullFineTune m : models) m.model().close();
            for (Backend be : bes) be.close();
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode readJson(String line) {
        try {
            return TrainConfig.JSON.readTree(line);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void aRunResumedOnTwoNodesGivesTheUninterruptedRunsLosses() throws Exception {
        long seed = TestSeeds.next();
        List<double[]> whole = twoNodes(config(tmp.resolve("whole")).build().validate(), seed);
        assertArrayEquals(whole.get(0), whole.get(1), "both nodes log the global loss");
        // the run as it was after checkpoint-3: later checkpoints and final/ gone
        Path resumed = tmp.resolve("resumed");
        try (var files = Files.walk(tmp.resolve("whole"))) {
            for (Path f : files.toList()) {
                Path to = resumed.resolve(tmp.resolve("whole").relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        TempFiles.deleteTree(resumed.resolve("final"));
        TempFiles.deleteTree(resumed.resolve("checkpoint-6"));
        List<double[]> again = twoNodes(config(resumed).resume(true).build().validate(), seed + 2);
        assertArrayEquals(whole.get(0), again.get(0), "node 0 resumed at step 3 and went on as before");
        assertArrayEquals(whole.get(0), again.get(1), "node 1 resumed from the same checkpoint, through its scratch folder");
        assertTrue(Files.isSymbolicLink(tmp.resolve("scratch-resumed").resolve("checkpoint-3")));
    }

    /**
     * Two nodes of two devices under ZeRO 2 (and 3): at checkpoint 3 every rank, node 1's too, writes its
     * optimizer shard into the shared run folder, and rank 0 the index, so checkpoint-3 holds the 4 ranks'
     * files; the run resumed from it on the two nodes logs the uninterrupted run's losses bit for bit on both.
     */
    @ParameterizedTest(name = "ZeRO {0}")
    @ValueSource(ints = {2, 3})
    void twoNodesWriteEveryRanksShardIntoTheSharedRunAndResumeFromIt(int zero) throws Exception {
        long seed = TestSeeds.next();
        List<double[]> whole = twoNodes(config(tmp.resolve("zero2")).build().validate(), seed, 2, zero);
        assertArrayEquals(whole.get(0), whole.get(1), "both nodes log the global loss");
        DataParallelTest.assertRankFiles(tmp.resolve("zero2/checkpoint-3"), 4);
        assertTrue(!Files.exists(tmp.resolve("scratch-zero2/checkpoint-3")), "node 1 wrote its shards into the shared run only");
        Path resumed = tmp.resolve("zero2-resumed");
        try (var files = Files.walk(tmp.resolve("zero2"))) {
            for (Path f : files.toList()) {
                Path to = resumed.resolve(tmp.resolve("zero2").relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        TempFiles.deleteTree(resumed.resolve("final"));
        List<double[]> again = twoNodes(config(resumed).resume(true).build().validate(), seed + 2, 2, zero);
        assertArrayEquals(whole.get(0), again.get(0), "node 0 resumed at step 3 from the 4 ranks' files");
        assertArrayEquals(whole.get(0), again.get(1), "node 1 resumed from the same checkpoint, through its scratch folder");
    }
}
