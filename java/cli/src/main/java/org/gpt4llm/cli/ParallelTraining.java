package org.gpt4llm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cuda.CudaBackend;
import org.gpt4llm.backend.cuda.device.Device;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.Rendezvous;
import org.gpt4llm.distributed.nccl.Nccl;
import org.gpt4llm.distributed.nccl.NcclCommunicator;
import org.gpt4llm.model.Batch;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.train.ResumeAcrossNodes;
import org.gpt4llm.train.RunStart;
import org.gpt4llm.train.TrainConfig;
import org.gpt4llm.train.TrainableModel;
import org.gpt4llm.train.parallel.DataParallel;
import org.gpt4llm.train.parallel.LocalGroup;

/**
 * The devices of a training run with {@code --gpus} / {@code --nnodes}: a backend and a replica of the
 * model per device, and the communicators between them: in-process for cpu and cuda-emu, NCCL for cuda
 * (whose ranks on other machines meet through the rendezvous). Closes the replicas, then the backends.
 */
final class ParallelTraining<M extends AutoCloseable> implements AutoCloseable {
    /** How long a rank waits for the others in a collective. */
    static final Duration TIMEOUT = DataParallel.DEFAULT_TIMEOUT;
    /** How long the nodes wait for each other to meet (each loads its model first), as torchrun's rendezvous. */
    static final Duration RENDEZVOUS_TIMEOUT = Duration.ofMinutes(15);

    final List<Backend> backends = new ArrayList<>();
    final List<M> models = new ArrayList<>();
    private final ParallelFlags.Layout layout;
    private List<Communicator> comms;

    /** Loads one replica on a backend. */
    interface Loader<M> {
        M load(Backend be) throws IOException;
    }

    private ParallelTraining(ParallelFlags.Layout layout) {
        this.layout = layout;
    }

    /**
     * Opens {@code layout.gpus()} backends named {@code backendName} (cpu threads shared among them) and
     * loads a replica on each; refuses what cannot work, in one sentence, before loading anything.
     */
    static <M extends AutoCloseable> ParallelTraining<M> open(ParallelFlags.Layout layout, TrainConfig cfg, int threads,
                                                             Loader<M> load) throws IOException {
        String name = cfg.backend().toLowerCase(Locale.ROOT);
        if (!name.equals("cuda") && layout.nodes() > 1) {
            throw new IllegalArgumentException("--nnodes " + layout.nodes() + " needs --backend cuda (NCCL between"
                    + " machines); --backend " + name + " runs several devices in one process only");
        }
        if (layout.parallel()) DataParallel.checkOffload(cfg.offloadOptimizer(), layout.zero());
        if (name.equals("cuda")) Nccl.load();  // the sentence about a missing NCCL, before any model is loaded
        ParallelTraining<M> t = new ParallelTraining<>(layout);
        try {
            int perDevice = Math.max(1, threads / layout.gpus());
            for (int i = 0; i < layout.gpus(); i++) {
                t.backends.add(Backends.open(name, perDevice, layout.localRank() * layout.gpus() + i));
                t.models.add(load.load(t.backends.get(i)));
            }
            return t;
        } catch (IOException | RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /**
     * The step engine over {@code trainable} replicas (in the order of the models) of run {@code cfg}: on a
     * node other than 0 under ZeRO 1, 2 and 3, its ranks write their shards of each checkpoint into the
     * shared run folder {@code --out}.
     */
    <B extends Batch> DataParallel<B> engine(List<? extends TrainableModel<B>> trainable, TrainConfig cfg, PrintStream out)
            throws IOException {
        comms = communicators(out);
        DataParallel<B> engine = new DataParallel<>(trainable, comms, layout.zero());
        return layout.nodeRank() > 0 ? engine.sharedRun(Path.of(cfg.out())) : engine;
    }

    /**
     * What this node's trainer starts from, once {@link #engine} has joined the ranks: node 0's {@code start};
     * elsewhere the check of its scratch run {@code nodeCfg}. With {@code --resume} over several nodes the
     * ranks first agree on rank 0's checkpoint of the shared run folder, which a node other than 0 then
     * resumes from ({@link ResumeAcrossNodes}).
     */
    RunStart startOnThisNode(TrainConfig cfg, TrainConfig nodeCfg, RunStart start) throws IOException {
        if (layout.nodes() > 1 && cfg.resume()) {
            Path runDir = Path.of(cfg.out());
            Optional<Path> checkpoint = ResumeAcrossNodes.agree(comms, backends, runDir, layout.gpus());
            if (nodeCfg != cfg) ResumeAcrossNodes.linkScratch(runDir, Path.of(nodeCfg.out()), checkpoint);
        }
        return nodeCfg == cfg ? start : RunStart.check(nodeCfg);
    }

    private List<Communicator> communicators(PrintStream out) throws IOException {
        if (!LocalGroup.usesNccl(backends.get(0)) || layout.nodes() == 1) return LocalGroup.open(backends, TIMEOUT);
        Nccl nccl = Nccl.load();
        byte[] id;
        ExecutorService serving = null;
        Future<?> served = null;
        InetSocketAddress at = Rendezvous.address("--rendezvous", layout.rendezvous());
        if (layout.nodeRank() == 0) {
            byte[] made = NcclCommunicator.uniqueId(nccl);
            id = made;
            serving = Executors.newSingleThreadExecutor();
            served = serving.submit(() -> {
                Rendezvous.serve(at, layout.nodes(), made, RENDEZVOUS_TIMEOUT);
                return null;
            });
        } else {
            id = Rendezvous.join(at, layout.nodeRank(), RENDEZVOUS_TIMEOUT);
        }
        out.printf(Locale.ROOT, "node %d of %d: %d GPUs, ranks %d..%d of %d (%s)%n", layout.nodeRank(), layout.nodes(),
                layout.gpus(), layout.nodeRank() * layout.gpus(), (layout.nodeRank() + 1) * layout.gpus() - 1,
                layout.world(), Nccl.describe());
        try {
            List<Device> devices = backends.stream().map(be -> ((CudaBackend) be).device()).toList();
            List<Communicator> comms = NcclCommunicator.joinAll(nccl, devices, layout.nodeRank() * layout.gpus(),
                    layout.world(), id, TIMEOUT);
            if (served != null) served.get();
            return comms;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof IOException io) throw io;
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IOException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while the ranks joined", e);
        } finally {
            if (serving != null) serving.shutdownNow();
        }
    }

    /**
     * The run folder this process writes: --out on node 0; a scratch folder elsewhere, since node 0 alone
     * writes the run (with --resume, {@link #startOnThisNode} links it to the checkpoint the nodes agree on).
     * Under ZeRO 1, 2 and 3 the other nodes keep {@code --save-every}: at each checkpoint their ranks write
     * their optimizer shards into --out, which every node shares ({@link #engine}); under ZeRO 0 rank 0
     * holds the whole state and they save nothing.
     */
    static TrainConfig forThisNode(TrainConfig cfg, ParallelFlags.Layout layout) throws IOException {
        if (layout.nodeRank() == 0) return cfg;
        java.nio.file.Path scratch = java.nio.file.Files.createTempDirectory("gpt4llm-node-" + layout.nodeRank() + "-");
        TrainConfig.Builder b = cfg.toBuilder().out(scratch.resolve("run").toString());
        return (layout.zero() == 0 ? b.saveEvery(0) : b).build().validate();
    }

    @Override
    public void close() {
        for (int i = models.size() - 1; i >= 0; i--) {
            try {
                models.get(i).close();
            } catch (Exception e) {
                // closing frees memory only; the first failure of the run is what gets reported
            }
        }
        for (int i = backends.size() - 1; i >= 0; i--) backends.get(i).close();
    }
}
