package org.gpt4llm.bench;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.model.DecodeModel;
import org.gpt4llm.model.DecodeSession;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.reference.TorchDecodeModel;
import org.gpt4llm.reference.TorchLlama;

/**
 * Decoding throughput: greedy decoding of random prompts with a KV cache, for each batch size, by
 * two {@link DecodeModel}s over the same weights (ours and libtorch's decode loop), measured by the
 * same loop in one run and interleaved so that neither side always runs first. Reports prefill time,
 * decode tokens/s (new tokens of all rows over the decode time) and how many greedy tokens the two
 * sides agree on.
 */
public final class GenerateBench {
    /** What to measure: prompts of {@code promptLen} tokens, {@code newTokens} steps, best of {@code repeats}. */
    public record Options(int[] batches, int promptLen, int newTokens, int repeats, long seed) {
        public Options {
            if (batches.length == 0) throw new IllegalArgumentException("--batches names no batch size");
            for (int b : batches) if (b < 1) throw new IllegalArgumentException("--batches: " + b + " is not a batch size");
            if (promptLen < 1) throw new IllegalArgumentException("--prompt-len must be positive, got " + promptLen);
            if (newTokens < 1) throw new IllegalArgumentException("--new-tokens must be positive, got " + newTokens);
            if (repeats < 1) throw new IllegalArgumentException("--repeats must be positive, got " + repeats);
        }
    }

    /** One side at one batch size: the fastest of the repeats (a row of the JSON report as it is). */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Row(String side, int batch, double prefillS, double decodeS, double tokensPerS) {}

    /** Rows by batch, ours then the peer's; {@code agreement[i]}: share of greedy tokens equal at batch i. */
    public record Result(Options options, String model, List<Row> rows, double[] agreement) {
        public String toText() {
            StringBuilder b = new StringBuilder();
            b.append(String.format(Locale.ROOT, "greedy decoding, %s, prompt %d tokens, %d new tokens per row%n", model,
                    options.promptLen(), options.newTokens()));
            b.append(String.format(Locale.ROOT, "%-22s %6s %12s %12s %14s%n", "side", "batch", "prefill s", "decode s", "tokens/s"));
            for (Row r : rows) {
                b.append(String.format(Locale.ROOT, "%-22s %6d %12.4f %12.4f %14.1f%n", r.side(), r.batch(), r.prefillS(),
                        r.decodeS(), r.tokensPerS()));
            }
            for (int i = 0; i < options.batches().length; i++) {
                int batch = options.batches()[i];
                List<Row> at = rows.stream().filter(r -> r.batch() == batch).toList();
                if (at.size() == 2) {
                    b.append(String.format(Locale.ROOT, "batch %d: ratio_vs_peer=%.3f (ours tokens/s over %s's), greedy tokens"
                                    + " agree %.1f%%%n", batch, at.get(0).tokensPerS() / at.get(1).tokensPerS(), at.get(1).side(),
                            100 * agreement[i]));
                }
            }
            return b.toString();
        }

        /** The JSON report of {@code bench generate --json} (and of the suite's generate section). */
        public Report report() {
            return new Report(model, options.promptLen(), options.newTokens(), options.repeats(), rows, agreement);
        }
    }

    /**
     * The JSON of a measurement; {@code greedyAgreement[i]} is NaN (written "NaN") at batch i without a peer.
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Report(String model, int promptLen, int newTokens, int repeats, List<Row> rows, double[] greedyAgreement) {}

    private GenerateBench() {}

    /**
     * A random-init LLaMA of {@code preset} in our {@code backend} and, when {@code libtorch}, the same
     * weights in libtorch ({@link TorchLlama}), both with {@code threads} threads, measured by {@link #run}.
     */
    public static Result runLlama(Options o, String preset, int vocab, String backend, int threads, boolean libtorch,
                                  PrintStream progress) {
        LlamaConfig cfg = LlamaConfig.preset(preset, vocab);
        String model = String.format(Locale.ROOT, "llama %s (hidden %d, %d layers, vocab %d), %d threads", preset,
                cfg.hiddenSize(), cfg.numLayers(), cfg.vocabSize(), threads);
        try (Backend be = Backends.open(backend, threads); DecoderModel ours = DecoderModel.initRandom(be, cfg, o.seed());
             TorchLlama theirs = libtorch ? new TorchLlama(cfg, ours.parameters(), threads) : null) {
            return run(o, model, "ours (" + backend + ")", ours, "libtorch",
                    theirs == null ? null : new TorchDecodeModel(theirs), progress);
        }
    }

    /** Measures {@code ours} and, when not null, {@code peer} (same weights) at every batch size. */
    public static Result run(Options o, String model, String oursName, DecodeModel ours, String peerName, DecodeModel peer,
                             PrintStream progress) {
        List<Row> rows = new ArrayList<>();
        double[] agreement = new double[o.batches().length];
        for (int i = 0; i < o.batches().length; i++) {
            int batch = o.batches()[i];
            int[][] prompts = prompts(batch, o.promptLen(), ours.vocabSize(), o.seed() + batch);
            Row best = null, bestPeer = null;
            int[][] oursTokens = null, peerTokens = null;
            for (int rep = 0; rep < o.repeats(); rep++) {
                // alternate which side goes first
                for (int side = 0; side < (peer == null ? 1 : 2); side++) {
                    boolean oursNow = peer == null || (side == 0) == (rep % 2 == 0);
                    int[][] generated = new int[batch][o.newTokens()];
                    Row r = measure(oursNow ? oursName : peerName, oursNow ? ours : peer, prompts, o.newTokens(), generated);
                    if (progress != null) {
                        progress.printf(Locale.ROOT, "%s batch %d, run %d: prefill %.4f s, %.1f tokens/s%n", r.side(), batch,
                                rep + 1, r.prefillS(), r.tokensPerS());
                    }
                    if (oursNow) {
                        oursTokens = generated;
                        if (best == null || r.decodeS() < best.decodeS()) best = r;
                    } else {
                        peerTokens = generated;
                        if (bestPeer == null || r.decodeS() < bestPeer.decodeS()) bestPeer = r;
                    }
                }
            }
            rows.add(best);
            if (bestPeer != null) rows.add(bestPeer);
            agreement[i] = peerTokens == null ? Double.NaN : agreement(oursTokens, peerTokens);
        }
        return new Result(o, model, rows, agreement);
    }

    private static Row measure(String side, DecodeModel m, int[][] prompts, int newTokens, int[][] generated) {
        int batch = prompts.length;
        try (DecodeSession s = m.open(batch, prompts[0].length + newTokens)) {
            long t0 = System.nanoTime();
            float[][] logits = s.prefill(prompts);
            long t1 = System.nanoTime();
            int[] next = new int[batch];
            for (int step = 0; step < newTokens; step++) {
                for (int r = 0; r < batch; r++) {
                    next[r] = argmax(logits[r]);
                    generated[r][step] = next[r];
                }
                if (step + 1 < newTokens) logits = s.step(next);
            }
            long t2 = System.nanoTime();
            double decode = (t2 - t1) / 1e9;
            // the first new token comes from the prefill's logits: newTokens - 1 steps produce the rest
            return new Row(side, batch, (t1 - t0) / 1e9, decode, batch * (double) (newTokens - 1) / decode);
        }
    }

    /** Share of positions where both sides chose the same token, counted up to each row's first difference. */
    private static double agreement(int[][] a, int[][] b) {
        long same = 0, total = 0;
        for (int r = 0; r < a.length; r++) {
            total += a[r].length;
            for (int t = 0; t < a[r].length && a[r][t] == b[r][t]; t++) same++;
        }
        return (double) same / total;
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static int[][] prompts(int batch, int len, int vocab, long seed) {
        Random rng = new Random(seed);
        int[][] p = new int[batch][len];
        for (int[] row : p) for (int t = 0; t < len; t++) row[t] = rng.nextInt(vocab);
        return p;
    }
}
