package org.gpt4llm.bench.jmh;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.datagen.text.Rouge;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * ROUGE-L between two answers of typical length (about 80 words each): once on text (tokenising
 * included, as the evaluation calls it) and once on tokens already split (the LCS alone, as the
 * near-duplicate filter of data collection calls it for every pair).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RougeBench {
    private List<String> target, prediction;

    @Setup(Level.Trial)
    public void setUp() {
        target = Rouge.tokens(Samples.ANSWER);
        prediction = Rouge.tokens(Samples.PREDICTION);
    }

    @Benchmark
    public Rouge.Scores scoreText() {
        return Rouge.score(Samples.ANSWER, Samples.PREDICTION, false);
    }

    @Benchmark
    public Rouge.Score rougeLTokens() {
        return Rouge.rougeL(target, prediction);
    }
}
