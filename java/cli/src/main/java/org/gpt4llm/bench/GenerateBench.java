package org.gpt4llm.bench;

import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.backend.cpu.CpuKernels;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.model.DecodeModel;
import org.gpt4llm.model.DecodeSession;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.reference.TorchDecodeModel;
import org.gpt4llm.reference.TorchLlama;

/**
 * Decoding throughput: greedy decoding of random prompts with a KV cache, for each batch size, by
 * two {@link DecodeModel}s over the same weights (ours and libtorch's decode loop), measured by the
 * same loop in one run and interleaved so that neither side always runs first, after one untimed run
 * of each side (the JIT's warm-up), each run after a short pause in which the other side's idle
 * threads stop spinning. Reports prefill time, decode tokens/s (new tokens of all rows over
 * the decode time) and how many greedy tokens the two sides agree on.
 *
 * <p>Next to tokens/s, each row says how fast decoding reads the weights: every decode step reads the
 * parameters once in their storage dtype (whatever the batch), so the read rate is their bytes x
 * steps/s, shown as a fraction of the memory bandwidth measured in the same run ({@code y = a + b}, the
 * suite's ceiling; CPU backend only). Not counted: the rows an untied embedding table gathers, the KV
 * cache and the activations ({@link #weightBytes}).
 *
 * <p>Prefill is GEMM-bound instead: each row also gives its model FLOP rate ({@link #prefillFlops}) as a
 * fraction of OpenBLAS sgemm at the prefill's MLP shape (M = batch x prompt tokens, N = ffn, K = hidden),
 * measured in the same run right after that batch size (CPU backend only).
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
    public record Row(String side, int batch, double prefillS, double decodeS, double tokensPerS, long weightBytesPerToken,
                      double readGbPerS, @NanAsNull double fractionOfBandwidth, double prefillGflops,
                      @NanAsNull double prefillSgemmGflops, @NanAsNull double prefillFractionOfSgemm) {
        /** This row with the weight traffic of {@code weightBytes} per decode step against {@code bandwidthGbPerS}. */
        Row withTraffic(long weightBytes, double bandwidthGbPerS) {
            double read = weightBytes * (tokensPerS / batch) / 1e9;
            return new Row(side, batch, prefillS, decodeS, tokensPerS, weightBytes, read, read / bandwidthGbPerS,
                    prefillGflops, prefillSgemmGflops, prefillFractionOfSgemm);
        }

        /** This row with a prefill of {@code flops} model FLOPs against sgemm's {@code sgemmGflops} (NaN: none). */
        Row withPrefill(double flops, double sgemmGflops) {
            double rate = flops / prefillS / 1e9;
            return new Row(side, batch, prefillS, decodeS, tokensPerS, weightBytesPerToken, readGbPerS, fractionOfBandwidth,
                    rate, sgemmGflops, rate / sgemmGflops);
        }
    }

    /**
     * What a prefill at a batch size costs and what it is measured against: its model FLOPs, and sgemm's
     * GFLOP/s at its MLP shape, measured when asked (NaN where there is no CPU ceiling).
     */
    public interface PrefillCost {
        double flops(int batch);

        double sgemmGflops(int batch);
    }

    /** Rows by batch, ours then the peer's; {@code agreement[i]}: share of greedy tokens equal at batch i. */
    public record Result(Options options, String model, List<Row> rows, double[] agreement, double bandwidthGbPerS) {
        public String toText() {
            StringBuilder b = new StringBuilder();
            b.append(String.format(Locale.ROOT, "greedy decoding, %s, prompt %d tokens, %d new tokens per row%n", model,
                    options.promptLen(), options.newTokens()));
            b.append(String.format(Locale.ROOT, "%-22s %6s %12s %12s %14s %12s %10s %8s %14s %9s%n", "side", "batch",
                    "prefill s", "decode s", "tokens/s", "MB/step", "read GB/s", "of bw", "prefill GF/s", "of sgemm"));
            for (Row r : rows) {
                b.append(String.format(Locale.ROOT, "%-22s %6d %12.4f %12.4f %14.1f %12.1f %10.2f %8s %14.2f %9s%n", r.side(),
                        r.batch(), r.prefillS(), r.decodeS(), r.tokensPerS(), r.weightBytesPerToken() / 1e6, r.readGbPerS(),
                        percent(r.fractionOfBandwidth()), r.prefillGflops(), percent(r.prefillFractionOfSgemm())));
            }
            if (!Double.isNaN(bandwidthGbPerS)) {
                b.append(String.format(Locale.ROOT, "memory bandwidth (y=a+b) in this run: %.2f GB/s; a decode step reads every"
                        + " weight once (an untied embedding table: its rows only; KV cache not counted)%n", bandwidthGbPerS));
            }
            for (int batch : options.batches()) {
                rows.stream().filter(r -> r.batch() == batch && !Double.isNaN(r.prefillSgemmGflops())).findFirst()
                        .ifPresent(r -> b.append(String.format(Locale.ROOT, "openblas sgemm at the prefill's MLP shape,"
                                + " batch %d (%d x ffn x hidden) in this run: %.2f GFLOP/s%n", batch,
                                batch * options.promptLen(), r.prefillSgemmGflops())));
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

        private static String percent(double fraction) {
            return Double.isNaN(fraction) ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * fraction);
        }

        /** The JSON report of {@code bench generate --json} (and of the suite's generate section). */
        public Report report() {
            return new Report(model, options.promptLen(), options.newTokens(), options.repeats(), bandwidthGbPerS, rows,
                    agreement);
        }
    }

    /**
     * The JSON of a measurement; {@code greedyAgreement[i]} is NaN (written "NaN") at batch i without a peer;
     * {@code bandwidthGbPerS} is null when not measured (a GPU backend).
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Report(String model, int promptLen, int newTokens, int repeats, @NanAsNull double bandwidthGbPerS,
                         List<Row> rows, double[] greedyAgreement) {}

    private GenerateBench() {}

    /**
     * A random-init LLaMA of {@code preset} in our {@code backend} and, when {@code libtorch}, the same
     * weights in libtorch ({@link TorchLlama}), both with {@code threads} threads, measured by {@link #run}.
     * {@code bandwidthGbPerS}: the memory bandwidth already measured in this run, or NaN to measure it here
     * (on the cpu backend; other backends get none).
     */
    public static Result runLlama(Options o, String preset, int vocab, String backend, int threads, boolean libtorch,
                                  double bandwidthGbPerS, PrintStream progress) {
        return runLlama(o, preset, vocab, backend, threads, null, libtorch ? Peer.LIBTORCH : Peer.NONE, bandwidthGbPerS,
                progress);
    }

    /** What our engine is measured against: libtorch's decode loop, our own engine with fp32 weights, or nothing. */
    public enum Peer {
        LIBTORCH, F32, NONE;

        /** The peer {@code --compare} names: libtorch (or torch), f32, or none. */
        public static Peer parse(String compare) {
            return switch (compare.toLowerCase(Locale.ROOT)) {
                case "libtorch", "torch" -> LIBTORCH;
                case "f32" -> F32;
                case "none" -> NONE;
                default -> throw new IllegalArgumentException("--compare " + compare + " is not libtorch, f32 or none");
            };
        }
    }

    /**
     * {@link #runLlama(Options, String, int, String, int, boolean, double, PrintStream)} with our weights kept in
     * {@code weights} (null: the backend's own type). With half-precision weights on the cpu, the peer runs
     * the same random weights unrounded, in fp32: libtorch, or ({@link Peer#F32}) our engine, whose
     * tokens/s ratio is then what half precision gains.
     */
    public static Result runLlama(Options o, String preset, int vocab, String backend, int threads, DType weights,
                                  Peer peer, double bandwidthGbPerS, PrintStream progress) {
        boolean half = backend.equals("cpu") && weights != null && weights != DType.F32;
        if (peer == Peer.F32 && !half) {
            throw new IllegalArgumentException("--compare f32 measures half-precision weights on the cpu: give --dtype bf16 or f16");
        }
        LlamaConfig cfg = LlamaConfig.preset(preset, vocab);
        double bandwidth = bandwidthGbPerS;
        if (Double.isNaN(bandwidth) && backend.equals("cpu")) {
            CpuKernelBench.Row row = CpuKernelBench.bandwidth(CpuKernelBench.Shape.full(), threads, 0.5, o.seed());
            bandwidth = row.best();
            if (progress != null) {
                progress.printf(Locale.ROOT, "memory bandwidth (y=a+b): ours %.2f GB/s, libtorch %.2f GB/s%n", row.ours(),
                        row.peer());
            }
        }
        String model = String.format(Locale.ROOT, "llama %s (hidden %d, %d layers, vocab %d), %d threads", preset,
                cfg.hiddenSize(), cfg.numLayers(), cfg.vocabSize(), threads)
                + (backend.equals("cpu") ? ", kernels on the " + CpuKernels.simdPath() + " path" : "");
        String oursName = "ours (" + backend + (half ? ", " + weights.name().toLowerCase(Locale.ROOT) : "") + ")";
        try (Backend be = Backends.open(backend, threads, 0, weights); DecoderModel ours = DecoderModels.initRandom(be, cfg, o.seed());
             Backend fullBe = half && peer != Peer.NONE ? Backends.open(backend, threads, 0, DType.F32) : null;
             DecoderModel full = fullBe == null ? null : DecoderModels.initRandom(fullBe, cfg, o.seed());
             TorchLlama theirs = peer == Peer.LIBTORCH
                     ? new TorchLlama(cfg, (full != null ? full : ours).parameters(), threads) : null) {
            boolean cpu = be instanceof CpuBackend;
            PrefillCost prefill = new PrefillCost() {
                @Override
                public double flops(int batch) {
                    return prefillFlops(cfg, batch, o.promptLen());
                }

                @Override
                public double sgemmGflops(int batch) {
                    return cpu ? StepBench.sgemmGflops(batch * o.promptLen(), cfg.intermediateSize(), cfg.hiddenSize(), threads)
                            : Double.NaN;
                }
            };
            DecodeModel peerModel = theirs != null ? new TorchDecodeModel(theirs) : peer == Peer.F32 ? full : null;
            String peerName = peer == Peer.F32 ? "ours (" + backend + ", f32)" : "libtorch";
            return run(o, model, oursName, ours, peerName, peerModel, weightBytes(ours),
                    weightBytes(full != null ? full : ours), bandwidth, prefill, progress);
        }
    }

    /**
     * Model FLOPs of the prefill of {@code batch} prompts of {@code promptLen} tokens: every linear layer of
     * the decoder on every token, causal attention (QKᵀ and PV, 2·T²·C each per layer and row, halved by the
     * mask), and the LM head on each row's last token only, as the decode session computes it.
     */
    public static double prefillFlops(LlamaConfig c, int batch, int promptLen) {
        double C = c.hiddenSize(), kv = c.kvDim(), f = c.intermediateSize(), l = c.numLayers(), t = promptLen;
        double layers = l * (2 * C * C + 2 * C * kv + 3 * C * f);
        return 2 * layers * batch * t + 2 * l * batch * t * t * C + 2.0 * batch * c.vocabSize() * C;
    }

    /**
     * Bytes of the parameters of {@code m} in their storage dtype that one decode step reads whole: all
     * but an untied input embedding table, of which a step looks up only its rows (a few KB, not counted).
     */
    public static long weightBytes(DecoderModel m) {
        String embed = m.config().decoderPrefix() + "embed_tokens.weight";
        boolean readWhole = m.config().tieWordEmbeddings();
        return m.parameters().entrySet().stream().filter(e -> readWhole || !e.getKey().equals(embed))
                .mapToLong(e -> e.getValue().byteSize()).sum();
    }

    /**
     * Measures {@code ours} and, when not null, {@code peer} (same weights, {@code weightBytes} and
     * {@code peerWeightBytes} of them in their storage types) at
     * every batch size; {@code bandwidthGbPerS} (NaN when unknown) is what the read rates are a fraction of, and
     * {@code prefill} what the prefill rates are measured against.
     */
    public static Result run(Options o, String model, String oursName, DecodeModel ours, String peerName, DecodeModel peer,
                             long weightBytes, long peerWeightBytes, double bandwidthGbPerS, PrefillCost prefill,
                             PrintStream progress) {
        List<Row> rows = new ArrayList<>();
        double[] agreement = new double[o.batches().length];
        for (int i = 0; i < o.batches().length; i++) {
            int batch = o.batches()[i];
            int[][] prompts = prompts(batch, o.promptLen(), ours.vocabSize(), o.seed() + batch);
            Row best = null, bestPeer = null;
            int[][] oursTokens = null, peerTokens = null;
            // one untimed run of each side first: a few dozen steps do not get the JIT through the decode
            // loop's code, and its compilation is not decoding speed
            measure(oursName, ours, prompts, o.newTokens(), new int[batch][o.newTokens()]);
            if (peer != null) {
                StepBench.settle();
                measure(peerName, peer, prompts, o.newTokens(), new int[batch][o.newTokens()]);
            }
            for (int rep = 0; rep < o.repeats(); rep++) {
                // alternate which side goes first
                for (int side = 0; side < (peer == null ? 1 : 2); side++) {
                    boolean oursNow = peer == null || (side == 0) == (rep % 2 == 0);
                    int[][] generated = new int[batch][o.newTokens()];
                    // the other side's idle threads (libtorch's OpenMP pool, either side's OpenBLAS) stop spinning
                    StepBench.settle();
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
            StepBench.settle();
            double flops = prefill.flops(batch), sgemm = prefill.sgemmGflops(batch);
            rows.add(best.withTraffic(weightBytes, bandwidthGbPerS).withPrefill(flops, sgemm));
            if (bestPeer != null) rows.add(bestPeer.withTraffic(peerWeightBytes, bandwidthGbPerS).withPrefill(flops, sgemm));
            agreement[i] = peerTokens == null ? Double.NaN : agreement(oursTokens, peerTokens);
        }
        return new Result(o, model, rows, agreement, bandwidthGbPerS);
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
            return new Row(side, batch, (t1 - t0) / 1e9, decode, batch * (double) (newTokens - 1) / decode, 0, Double.NaN,
                    Double.NaN, Double.NaN, Double.NaN, Double.NaN);
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
