package org.gpt4llm.bench.jmh;

import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.generate.Sampler;
import org.gpt4llm.generate.SamplingParams;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * One sampled token over a LLaMA-sized vocabulary (32k logits): repetition penalty, temperature,
 * top-k and top-p, as {@code gpt4llm generate} does per row and step. The sampler overwrites the
 * logits, so each call works on a fresh copy (the copy, 128 KB, is part of the time).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class SamplerBench {
    /** "topk": top-k 50 then top-p 0.9; "topp": top-p 0.9 alone (a sort of the whole vocabulary). */
    @Param({"topk", "topp"})
    public String warpers;

    private float[] logits, work;
    private final BitSet seen = new BitSet();
    private Sampler sampler;

    @Setup(Level.Trial)
    public void setUp() {
        SplittableRandom rng = new SplittableRandom(1);
        logits = new float[32000];
        // logits of a trained model are spread over a few units; a handful of tokens stand out
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (rng.nextGaussian() * 2);
        for (int i = 0; i < 20; i++) logits[rng.nextInt(logits.length)] += 8;
        for (int i = 0; i < 200; i++) seen.set(rng.nextInt(logits.length));
        work = new float[logits.length];
        int topK = warpers.equals("topk") ? 50 : 0;
        sampler = new Sampler(new SamplingParams(256, 0.7f, topK, 0.9f, 1.1f, List.of(), true, 7));
    }

    @Benchmark
    public int next() {
        System.arraycopy(logits, 0, work, 0, logits.length);
        return sampler.next(work, seen);
    }
}
