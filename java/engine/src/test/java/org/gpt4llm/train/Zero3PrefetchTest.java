package org.gpt4llm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.CommunicatorException;
import org.gpt4llm.distributed.ForwardingCommunicator;
import org.gpt4llm.distributed.InProcessGroup;
import org.gpt4llm.distributed.MeteredCommunicator;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.train.parallel.DataParallel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ZeRO 3's gathers ahead on the in-process communicator: the next layer's all-gather runs on a thread of
 * its own, through the communicator's companion, while the current layer computes; it moves the same
 * bytes as the gathers in order did (the same bits, the same traffic), and its failure ends the run at
 * once with a sentence naming the rank.
 */
class Zero3PrefetchTest {
    private static final PrintStream SILENT = new PrintStream(OutputStream.nullOutputStream());
    private static final int LAYERS = 4, RANKS = 2, STEPS = 3;
    private static final LlamaConfig MODEL = LlamaConfig.builder().hiddenSize(32).intermediateSize(64).numLayers(LAYERS)
            .numHeads(4).numKvHeads(2).rmsNormEps(1e-5f).vocabSize(Synthetic.TINY.vocabSize()).maxPositionEmbeddings(64)
            .build();

    @TempDir
    Path tmp;

    /** A communicator that passes every call on, with its companion (or none) and hooks before the gathers and reduce-scatters. */
    private static class Watched extends ForwardingCommunicator {
        Communicator companion;
        Runnable beforeAllGather = () -> {}, beforeReduceScatter = () -> {};

        Watched(Communicator inner) {
            super(inner);
        }

        @Override
        public void reduceScatter(Tensor send, Tensor recv, ReduceOp op) {
            beforeReduceScatter.run();
            super.reduceScatter(send, recv, op);
        }

        @Override
        public void allGather(Tensor send, Tensor recv) {
            beforeAllGather.run();
            super.allGather(send, recv);
        }

        @Override
        public Communicator companion() {
            return companion;
        }
    }

    private record Run(double[] losses, double[] norms, Map<String, float[]> weights) {}

    /** A ZeRO 3 run of full fine-tuning on {@link #RANKS} cpu devices, each rank's communicator as {@code wrap} makes it. */
    private Run run(String name, long seed, Function<Communicator, Communicator> wrap) throws IOException {
        Path dir = tmp.resolve(name);
        TrainConfig cfg = Synthetic.builder(dir).batch(4).microBatch(1).maxSteps(STEPS).evalEvery(0).saveEvery(0).build()
                .validate();
        List<Backend> bes = new ArrayList<>();
        List<DecoderModel> models = new ArrayList<>();
        try {
            List<TrainableModel<TokenBatch>> replicas = new ArrayList<>();
            for (int r = 0; r < RANKS; r++) {
                bes.add(new CpuBackend(1));
                models.add(DecoderModels.initRandom(bes.get(r), MODEL, seed));
                replicas.add(new FullFineTune(models.get(r), null));
            }
            List<Communicator> comms = new ArrayList<>();
            for (Communicator c : InProcessGroup.create(bes, Duration.ofSeconds(60))) comms.add(wrap.apply(c));
            Trainer<TokenBatch> t = new Trainer<>(cfg, replicas.get(0), Synthetic.counting(64, 1), null, true, SILENT);
            t.withSteps(new DataParallel<>(replicas, comms, 3));
            t.run();
            List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
            assertEquals(STEPS, lines.size());
            double[] losses = new double[STEPS], norms = new double[STEPS];
            for (int s = 0; s < STEPS; s++) {
                var line = TrainConfig.JSON.readTree(lines.get(s));
                losses[s] = JsonChecks.number(line, "loss");
                norms[s] = JsonChecks.number(line, "grad_norm");
            }
            Map<String, float[]> weights = new LinkedHashMap<>();
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                org.gpt4llm.io.Checkpoint.load(dir.resolve("final"), a).forEach((k, v) -> weights.put(k, v.toFloatArray()));
            }
            assertTrue(!weights.isEmpty(), "the run saved no final weights");
            return new Run(losses, norms, weights);
        } finally {
            for (DecoderModel m : models) m.close();
            for (Backend be : bes) be.close();
        }
    }

    /**
     * In the backward, layer l's gather starts layer l - 1's, and the backward of l then ends in the
     * reduce-scatter of its gradients. Here the gather of layer {@code LAYERS - 2} may not finish before
     * that reduce-scatter has begun on its rank: with the gathers in order on the rank's thread, it could
     * never, and it would wait out the latch; run beside the layer's work, it waits only as long as the work.
     */
    @Test
    void theNextLayersGatherRunsWhileTheLayerComputes() throws IOException {
        CountDownLatch[] backwardWorks = new CountDownLatch[RANKS];
        AtomicInteger[] gathersBeside = new AtomicInteger[RANKS];
        boolean[] waitedOut = new boolean[RANKS], sawTheGather = new boolean[RANKS];
        String[] gatherThreads = new String[RANKS], rankThreads = new String[RANKS];
        run("overlap", TestSeeds.next(), c -> {
            int r = c.rank();
            backwardWorks[r] = new CountDownLatch(1);
            gathersBeside[r] = new AtomicInteger();
            Watched main = new Watched(c), beside = new Watched(c.companion());
            main.beforeReduceScatter = () -> {
                rankThreads[r] = Thread.currentThread().getName();
                backwardWorks[r].countDown();
            };
            beside.beforeAllGather = () -> {
                // the forward gathers layers 0 .. LAYERS-1; the backward's first gather is LAYERS-1, then LAYERS-2
                if (gathersBeside[r].getAndIncrement() != LAYERS + 1) return;
                sawTheGather[r] = true;
                gatherThreads[r] = Thread.currentThread().getName();
                try {
                    waitedOut[r] = !backwardWorks[r].await(20, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            };
            main.companion = beside;
            return main;
        });
        for (int r = 0; r < RANKS; r++) {
            assertTrue(sawTheGather[r], "rank " + r + " gathered the layers through the companion");
            assertTrue(!waitedOut[r], "rank " + r + "'s gather of layer " + (LAYERS - 2) + " had to finish before layer "
                    + (LAYERS - 1) + "'s backward could begin");
            assertNotEquals(rankThreads[r], gatherThreads[r], "rank " + r + "'s gathers ran on the rank's own thread");
            // a forward and a backward gather each layer once per micro-batch (taking the weights back at the end runs on the rank's own thread)
            assertEquals(STEPS * 2 * LAYERS * 4 / RANKS, gathersBeside[r].get(), "rank " + r + "'s gathers beside");
        }
    }

    /** The gathers ahead copy the same bytes as the gathers in order, into the same slots: the same bits. */
    @Test
    void gatheringAheadGivesTheBitsOfGatheringInOrder() throws IOException {
        long seed = TestSeeds.next();
        Run inOrder = run("in-order", seed, c -> new Watched(c));  // no companion: every gather on the rank's thread
        Run ahead = run("ahead", seed, c -> c);
        assertArrayEquals(inOrder.losses(), ahead.losses());
        assertArrayEquals(inOrder.norms(), ahead.norms());
        assertEquals(inOrder.weights().keySet(), ahead.weights().keySet());
        inOrder.weights().forEach((name, w) -> assertArrayEquals(w, ahead.weights().get(name), name));
    }

    /** The metered communicator counts what its companion moves, into the same totals. */
    @Test
    void aMeteredCommunicatorCountsItsCompanionsGathers() throws IOException {
        List<MeteredCommunicator> meters = new ArrayList<>();
        run("metered", TestSeeds.next(), c -> {
            MeteredCommunicator m = new MeteredCommunicator(c);
            meters.add(m);
            assertTrue(m.companion() instanceof MeteredCommunicator, "the companion is metered too");
            return m;
        });
        List<MeteredCommunicator> hidden = new ArrayList<>();
        run("metered-in-order", TestSeeds.next(), c -> {
            MeteredCommunicator m = new MeteredCommunicator(new Watched(c));
            hidden.add(m);
            return m;
        });
        for (int r = 0; r < RANKS; r++) {
            assertEquals(hidden.get(r).bytesSent(), meters.get(r).bytesSent(), "rank " + r + "'s bytes");
            assertEquals(hidden.get(r).calls(), meters.get(r).calls(), "rank " + r + "'s collectives");
        }
    }

    /** A gather ahead that fails on rank 1 ends every rank at once with a sentence naming rank 1 and the gather. */
    @Test
    void aGatherAheadThatFailsEndsTheRunNamingTheRank() {
        AtomicInteger gathers = new AtomicInteger();
        long t0 = System.nanoTime();
        CommunicatorException e = assertThrows(CommunicatorException.class, () -> run("fault", TestSeeds.next(), c -> {
            if (c.rank() != 1) return c;
            Watched main = new Watched(c), beside = new Watched(c.companion());
            beside.beforeAllGather = () -> {
                // in the second step's forward, while layer 1 computes
                if (gathers.incrementAndGet() == 2 * LAYERS * 4 / RANKS + 3) throw new IllegalStateException("the link is down");
            };
            main.companion = beside;
            return main;
        }));
        assertTrue(e.getMessage().startsWith("rank 1 failed"), e.getMessage());
        assertTrue(e.getMessage().contains("all-gather of layer 2 failed (IllegalStateException: the link is down)"),
                e.getMessage());
        assertTrue(System.nanoTime() - t0 < 20_000_000_000L, "the run ended at once, not after the 60-second timeout");
    }
}
