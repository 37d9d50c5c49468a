package org.gpt4llm.bench.jmh;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.datagen.job.AlpacaPrompt;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Encoding one Alpaca prompt with its answer (about 300 tokens) with the LLaMA-2 tokenizer through
 * the HF tokenizers library (Rust, via DJL's JNI binding), as SFT data loading does per record.
 * The tokenizer folder comes from the system property {@value #PROPERTY}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class TokenizerBench {
    /** The system property naming the tokenizer folder (one with {@code tokenizer.json}). */
    public static final String PROPERTY = "gpt4llm.bench.tokenizer";

    private HfTokenizer tokenizer;
    private String text;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        String dir = System.getProperty(PROPERTY);
        if (dir == null || !Files.isDirectory(Path.of(dir))) {
            throw new IllegalStateException("-D" + PROPERTY + " must name a tokenizer folder, got " + dir);
        }
        tokenizer = Tokenizers.load(Path.of(dir));
        text = AlpacaPrompt.of(Samples.INSTRUCTION, Samples.INPUT) + "\n" + Samples.ANSWER;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        tokenizer.close();
    }

    @Benchmark
    public int[] encode() {
        return tokenizer.encode(text);
    }
}
