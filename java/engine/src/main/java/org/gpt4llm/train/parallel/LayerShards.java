package org.gpt4llm.train.parallel;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.distributed.Communicator;
import org.gpt4llm.distributed.Communicator.ReduceOp;
import org.gpt4llm.distributed.CommunicatorException;
import org.gpt4llm.memory.MemoryCategory;
import org.gpt4llm.model.DecoderLayout;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.LayerHooks;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * ZeRO 3 on one rank: a {@link DecoderModel}'s weights sharded over the ranks by group, each decoder
 * layer's weights one flat group ({@link FlatShards}) and those outside the layers (embeddings, final
 * norm, head) another. The rank keeps its shard of every group; the model's weights become views into
 * a pool of whole groups (two layer slots, layer l in slot l % 2, and one for the outside group),
 * all-gathered just before they are read ({@link #gather}, which also gathers the next layer of the pass
 * ahead into the other slot) and returned to the pool after ({@link #release}): at most two layers are
 * whole at a time.
 *
 * <p>Where the communicator has a {@link Communicator#companion}, the layers' gathers run on a thread of
 * their own through it, as FSDP runs them on a stream of its own: the gather of the next layer goes on
 * while this layer computes, and a layer's work waits for its own gather only. A layer's gather is
 * started only once its slot's previous layer has been released (the model releases layer l - 1 before it
 * asks for layer l, which starts l + 1), and a release waits for a gather still writing the slot. Every
 * rank starts the same gathers in the same order, so the companion's collectives match on every rank;
 * the reduce-scatters and the outside group's gathers stay on this thread's communicator, so neither
 * thread ever waits for the other's collectives. A gather that fails ends the run as any rank failure
 * does: it aborts the communicators (both), and its error reaches this rank's thread where it next waits.
 * Without a companion (NCCL here), and while rank 0 {@link #lead leads}, the gathers run in order on this
 * thread, before the layer that needs them.
 *
 * <p>Where the decoder's weights train, its gradients stream through two layers' buffers
 * ({@link DecoderModel#streamGradients}); as soon as the backward completes a layer, its gradients are
 * reduce-scattered and this rank's part is added to its fp32 shard of the group's gradients, which the
 * optimizer reads ({@link #shardGradients}). This happens on every micro-batch: holding every layer's
 * gradients until the last one would need them all on every device, which ZeRO 3 is there to avoid.
 *
 * <p>Outside a step, a checkpoint's ranks each copy their part of the weights as every rank gathers the
 * layers in the same order (as a forward does). What reads the weights whole on rank 0 alone (an
 * evaluation, {@code final/}) {@link #lead leads}: before each gather rank 0 broadcasts which group it
 * needs, and the other ranks {@link #serve} those gathers until it says it is done.
 */
public final class LayerShards implements LayerHooks, AutoCloseable {
    private static final int NONE = Integer.MIN_VALUE, DONE = -2;

    private final Backend be;
    /** The pool, the gradient shards and the buckets: what only training needs, freed first when the run ends. */
    private final Arena arena = Arena.ofShared();
    /** Each group's shard in an arena of its own, so that consolidating frees it as soon as the group is whole. */
    private final List<Arena> shardArenas = new ArrayList<>();
    private final DecoderModel model;
    private final Communicator comm;
    /** The companion the layers' gathers go through on {@link #ahead}'s thread, or null: they run on this thread. */
    private final Communicator beside;
    private final ExecutorService ahead;
    /** The gather still writing each layer slot, or null. */
    private final Future<?>[] arriving = new Future<?>[2];
    private final int rank, ranks, layers;
    /** Group g: decoder layer g for g below {@link #layers}, the weights outside the layers at index {@link #layers}. */
    private final List<FlatShards> groups = new ArrayList<>();
    private final List<Tensor> shards = new ArrayList<>(), gradShards = new ArrayList<>();
    private final Tensor[] slots;
    private final Tensor outsideSlot, gradBucket, gradPart, one, signal;
    private final int[] slotHolds = {NONE, NONE};
    private final long chunk;
    private final boolean trains;
    private boolean outsideWhole, leading, consolidated;

    /**
     * Shards {@code model}'s weights (the same on every rank when this is called) as rank {@code rank}
     * of {@code ranks}, collecting through {@code comm} (null: a rank that only counts its memory, for
     * the planner); gradients move in buckets of at most {@code bucketElements}.
     */
    public LayerShards(Backend be, DecoderModel model, Communicator comm, int rank, int ranks, long bucketElements) {
        this.be = be;
        this.model = model;
        this.comm = comm;
        this.beside = comm == null ? null : comm.companion();
        this.ahead = beside == null ? null : Executors.newSingleThreadExecutor(task -> {
            Thread t = new Thread(task, "gpt4llm-rank-" + rank + "-gathers");
            t.setDaemon(true);
            return t;
        });
        this.rank = rank;
        this.ranks = ranks;
        this.layers = model.config().numLayers();
        Map<String, Tensor> params = model.parameters();
        Set<String> training = model.trainableParameters().keySet();
        long trainingHere = params.keySet().stream().filter(training::contains).count();
        if (trainingHere != 0 && trainingHere != params.size()) {
            throw new IllegalArgumentException("--zero 3 shards a model whose weights all train or all are frozen (LoRA);"
                    + " this one trains " + trainingHere + " of its " + params.size() + " tensors");
        }
        this.trains = trainingHere > 0;
        List<Map<String, Tensor>> byGroup = new ArrayList<>();
        for (int g = 0; g <= layers; g++) byGroup.add(new LinkedHashMap<>());
        params.forEach((name, p) -> byGroup.get(index(DecoderLayout.layerOf(name))).put(name, p));
        DType type = be.weightType();
        long largestLayer = 0, largestShard = 0;
        for (int g = 0; g <= layers; g++) {
            FlatShards layout = new FlatShards(byGroup.get(g), ranks);
            groups.add(layout);
            Arena own = Arena.ofShared();
            shardArenas.add(own);
            Tensor shard = be.allocate(own, MemoryCategory.WEIGHTS, type, layout.shard);
            be.zero(shard);
            layout.gather(be, byGroup.get(g), rank * layout.shard, layout.shard, shard);
            shards.add(shard);
            if (trains) gradShards.add(zeroed(MemoryCategory.GRADIENTS, layout.shard));
            if (g < layers) largestLayer = Math.max(largestLayer, layout.shard * ranks);
            largestShard = Math.max(largestShard, layout.shard);
        }
        slots = new Tensor[Math.min(2, layers)];
        for (int s = 0; s < slots.length; s++) slots[s] = be.allocate(arena, MemoryCategory.WEIGHTS, type, largestLayer);
        outsideSlot = be.allocate(arena, MemoryCategory.WEIGHTS, type, groups.get(layers).shard * ranks);
        // the buckets the gradients pass through on their way to this rank's shard: scratch, as ZeRO 2's
        chunk = FlatShards.chunk(largestShard, ranks, bucketElements);
        gradBucket = trains ? zeroed(MemoryCategory.WORKSPACE, chunk * ranks) : null;
        gradPart = trains ? be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, chunk) : null;
        one = trains ? be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, 1, 1) : null;
        signal = be.allocate(arena, MemoryCategory.WORKSPACE, DType.F32, 1);
        if (trains) upload(one, 1f);

        Map<String, Tensor> pool = new LinkedHashMap<>();
        for (int g = 0; g <= layers; g++) {
            Tensor flat = g < layers ? slots[g % 2] : outsideSlot;
            for (String name : groups.get(g).names()) pool.put(name, groups.get(g).place(flat, name, params.get(name).shape()));
        }
        if (trains) {
            model.streamGradients(true);
            model.onGradientsDone(this::reduceScatter);
        }
        model.adoptWeights(pool, this);
    }

    private int index(int group) {
        return group == OUTSIDE ? layers : group;
    }

    private Tensor zeroed(MemoryCategory category, long n) {
        Tensor t = be.allocate(arena, category, DType.F32, n);
        be.zero(t);
        return t;
    }

    private void upload(Tensor dst, float value) {
        try (Arena host = Arena.ofConfined()) {
            be.upload(dst, Tensor.of(host, new float[] {value}, dst.shape()));
        }
    }

    @Override
    public void gather(int group, boolean upward) {
        whole(group);
        int next = upward ? group + 1 : group - 1;
        if (group != OUTSIDE && next >= 0 && next < layers) whole(next);
        if (group != OUTSIDE) arrived(group % 2);
    }

    /** Group {@code group} all-gathered into its place in the pool, unless it is whole there already. */
    private void whole(int group) {
        if (group == OUTSIDE) {
            if (outsideWhole) return;
            outsideWhole = true;
        } else {
            int s = group % 2;
            if (slotHolds[s] == group) return;
            if (slotHolds[s] != NONE) {
                throw new IllegalStateException("layer " + group + " needs the pool slot that still holds layer " + slotHolds[s]);
            }
            slotHolds[s] = group;
        }
        if (leading) {
            upload(signal, group);
            comm.broadcast(signal, 0);
        }
        if (group == OUTSIDE || leading || ahead == null) allGather(group, comm);
        else arriving[group % 2] = ahead.submit(() -> gatherAhead(group));
    }

    private void allGather(int group, Communicator through) {
        Tensor shard = shards.get(index(group));
        Tensor flat = group == OUTSIDE ? outsideSlot : slots[group % 2];
        through.allGather(shard, FlatShards.slice(flat, 0, shard.numel() * ranks));
    }

    /**
     * On the gathers' thread: layer {@code layer}'s gather through the companion. A failure of its own
     * aborts the communicators at once, so that no rank waits for this one's next collective.
     */
    private void gatherAhead(int layer) {
        try {
            allGather(layer, beside);
        } catch (CommunicatorException e) {
            throw e;
        } catch (RuntimeException | Error e) {
            IllegalStateException failure = new IllegalStateException("the all-gather of layer " + layer + " failed ("
                    + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")", e);
            comm.abort(failure);
            throw failure;
        }
    }

    /** Waits for the gather still writing slot {@code s}, if any; its failure is thrown here. */
    private void arrived(int s) {
        Future<?> f = arriving[s];
        if (f == null) return;
        arriving[s] = null;
        try {
            f.get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CommunicatorException("rank " + rank + " was interrupted waiting for the all-gather of layer "
                    + slotHolds[s], e);
        }
    }

    @Override
    public void release(int group) {
        if (group == OUTSIDE) {
            outsideWhole = false;
        } else if (slotHolds[group % 2] == group) {
            arrived(group % 2);  // a gather still writing the slot must end before another may start there
            slotHolds[group % 2] = NONE;
        }
    }

    /** Every group back in the pool (a step starts from none whole, and the updated shards make whole copies stale). */
    void releaseAll() {
        arrived(0);
        arrived(1);
        slotHolds[0] = slotHolds[1] = NONE;
        outsideWhole = false;
    }

    /**
     * The backward completed the gradients of {@code group}: their sums over the ranks, this rank's part
     * only, are added to its shard, a bucket at a time (part r of the bucket is chunk k of rank r's part
     * of the group), and the model's buffers are zeroed for the next layer or micro-batch.
     */
    private void reduceScatter(int group) {
        FlatShards layout = groups.get(index(group));
        Map<String, Tensor> all = model.gradients(), grads = new LinkedHashMap<>();
        for (String name : layout.names()) grads.put(name, all.get(name));
        Tensor sums = gradShards.get(index(group));
        for (long k = 0; k < layout.shard; k += chunk) {
            long c = Math.min(chunk, layout.shard - k);
            Tensor send = FlatShards.slice(gradBucket, 0, c * ranks), mine = FlatShards.slice(gradPart, 0, c);
            for (int r = 0; r < ranks; r++) layout.gather(be, grads, r * layout.shard + k, c, FlatShards.slice(send, r * c, c));
            comm.reduceScatter(send, mine, ReduceOp.SUM);
            // sums += mine, in fp32, as a rank-1 product
            be.matmul(FlatShards.slice(sums, k, c).view(1, c), one, false, mine.view(1, c), false, 1f, 1f);
        }
        for (Tensor g : grads.values()) be.zero(g);
    }

    /**
     * The collectives of one forward and backward, in the model's order, without their work (the
     * gradients this rank adds are its zeroed buffers): for a rank with fewer micro-batches in a step
     * than another, since every rank must take part in every gather.
     */
    void idlePass() {
        gather(OUTSIDE, true);
        for (int l = 0; l < layers; l++) {
            gather(l, true);
            release(l);
        }
        for (int l = layers - 1; l >= 0; l--) {
            gather(l, false);
            if (trains) reduceScatter(l);
            release(l);
        }
        if (trains) reduceScatter(OUTSIDE);
        release(OUTSIDE);
    }

    /** A step's gradients start from 0. */
    void zeroGradients() {
        for (Tensor g : gradShards) be.zero(g);
    }

    /** This rank's parts of the weights, by parameter name: slices of its shards, what its optimizer updates. */
    public Map<String, Tensor> shardWeights() {
        return parts(shards);
    }

    /** The fp32 sums of the gradients of {@link #shardWeights} (none where the weights are frozen). */
    public Map<String, Tensor> shardGradients() {
        return trains ? parts(gradShards) : Map.of();
    }

    private Map<String, Tensor> parts(List<Tensor> perGroup) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int g = 0; g <= layers; g++) out.putAll(groups.get(g).parts(perGroup.get(g), rank));
        return out;
    }

    /** Whether parameter {@code name} is sharded here (else it is replicated on every rank: an adapter, a value head). */
    boolean holds(String name) {
        return model.parameters().containsKey(name);
    }

    /**
     * The element range {@code [start, count]} of each trained weight rank {@code r} holds a part of, by
     * name (none where the weights are frozen).
     */
    Map<String, long[]> ranges(int r) {
        Map<String, long[]> out = new LinkedHashMap<>();
        if (trains) for (FlatShards g : groups) out.putAll(g.ranges(r));
        return out;
    }

    /** Where this rank's part of parameter {@code name} starts in it (row-major). */
    long sliceStart(String name) {
        return groups.get(index(DecoderLayout.layerOf(name))).sliceStart(name, rank);
    }

    /**
     * Runs {@code work} on rank 0 while the others {@link #serve}: each gather it needs is first announced
     * to them; at the end they are told it is done, whatever happened.
     */
    <T> T lead(java.util.function.Supplier<T> work) {
        releaseAll();
        leading = true;
        try {
            return work.get();
        } finally {
            leading = false;
            releaseAll();
            upload(signal, DONE);
            comm.broadcast(signal, 0);
        }
    }

    /** On a rank other than 0: takes part in the gathers rank 0 announces, until it says it is done. */
    void serve() {
        releaseAll();
        while (true) {
            comm.broadcast(signal, 0);
            int group = Math.round(be.download(signal)[0]);
            if (group == DONE) return;
            allGather(group, comm);
        }
    }

    /**
     * Gives the model its whole weights back in memory of its own, with its gradients in buffers of their
     * own and no hooks: what the run trained can then be decoded, saved and trained further without this
     * rank's shards. Every rank does this at once. What only training needed goes first (the activation
     * buffers, the streamed gradients, the gradient shards, the buckets and the pool: the caller has closed
     * the optimizer), then each group is all-gathered straight into the model's memory and its shard freed,
     * so a device holds at most the whole weights and the last group's shard, besides the backend's scratch.
     */
    void consolidate() {
        releaseAll();
        model.freeActivations();
        if (trains) {
            model.onGradientsDone(null);
            model.streamGradients(false);
        }
        consolidated = true;
        arena.close();
        Map<String, Tensor> params = model.parameters(), whole = new LinkedHashMap<>();
        Arena own = Arena.ofShared();
        try {
            for (int g = 0; g <= layers; g++) {
                FlatShards layout = groups.get(g);
                Tensor flat = be.allocate(own, MemoryCategory.WEIGHTS, be.weightType(), layout.shard * ranks);
                comm.allGather(shards.get(g), flat);
                shardArenas.get(g).close();
                for (String name : layout.names()) whole.put(name, layout.place(flat, name, params.get(name).shape()));
            }
        } catch (RuntimeException e) {
            own.close();
            throw e;
        }
        model.reclaimWeights(whole, own);
    }

    @Override
    public void close() {
        if (trains) model.onGradientsDone(null);
        if (ahead != null) {
            // a gather left running after a failure must end before the memory it writes goes
            ahead.shutdownNow();
            try {
                if (!ahead.awaitTermination(1, java.util.concurrent.TimeUnit.MINUTES)) {
                    throw new IllegalStateException("rank " + rank + "'s layer gathers did not stop within a minute");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (!consolidated) arena.close(); // a consolidation closed it first
        // a consolidation (even one that failed part way) freed the shards of the groups it gathered
        for (Arena a : shardArenas) if (a.scope().isAlive()) a.close();
    }
}
