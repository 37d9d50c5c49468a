package org.gpt4llm.bench.jmh;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.gpt4llm.datagen.job.JsonRecords;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Reading a job's JSONL input ({@link JsonRecords#read}): 1,000 Alpaca records of typical size in a
 * temporary file (page cache warm), reported per record.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class JsonRecordsBench {
    static final int RECORDS = 1000;

    private Path file;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        ObjectMapper json = new ObjectMapper();
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < RECORDS; i++) {
            ObjectNode r = json.createObjectNode();
            r.put("id", "record-" + i);
            r.put("instruction", Samples.INSTRUCTION);
            r.put("input", i % 3 == 0 ? Samples.INPUT : "");
            r.put("output", Samples.ANSWER);
            b.append(json.writeValueAsString(r)).append('\n');
        }
        file = Files.createTempFile("gpt4llm-jmh-", ".jsonl");
        Files.writeString(file, b, StandardCharsets.UTF_8);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        Files.deleteIfExists(file);
    }

    @Benchmark
    @OperationsPerInvocation(RECORDS)
    public List<JsonRecords.Located> read() throws IOException {
        return JsonRecords.read(file);
    }
}
