package org.gpt4llm.train;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.JsonFiles;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.tensor.Tensor;

/**
 * The optimizer state of a checkpoint written by ranks that each hold a shard of it (ZeRO 1, 2 and 3), as
 * DeepSpeed and FSDP write sharded checkpoints: every rank writes its own file,
 * {@code optimizer.rank-RRRRR-of-NNNNN.safetensors}, holding its slices of the moments and fp32 masters
 * under the one-device file's names ({@code exp_avg.NAME}, {@code exp_avg_sq.NAME}, {@code master.NAME}),
 * each slice flat (1-D), and rank 0 writes {@code optimizer.index.json}: the number of ranks, the ZeRO
 * stage, the update count, the shape of every whole tensor and, for each rank, its file and the element
 * range {@code [start, count]} (row-major) of each tensor it holds. Nothing is gathered: each rank writes
 * what it holds, and a reader ({@link SavedOptimizerState}) takes any range of any tensor from the files
 * that hold it, so the state re-shards onto any number of devices.
 */
public final class OptimizerShards {
    /** The index's file name. */
    public static final String INDEX = "optimizer.index.json";
    /** What the index's {@code format} field says. */
    public static final String FORMAT = "gpt4llm optimizer shards 1";

    private OptimizerShards() {}

    /** The file of rank {@code rank} of {@code ranks}. */
    public static String fileOf(int rank, int ranks) {
        return String.format(Locale.ROOT, "optimizer.rank-%05d-of-%05d.safetensors", rank, ranks);
    }

    /**
     * The index of a sharded optimizer state.
     *
     * @param format    {@link #FORMAT}
     * @param worldSize the ranks that wrote it
     * @param zero      the ZeRO stage they ran
     * @param step      the optimizer's update count (AdamW's bias-correction step)
     * @param tensors   the shape of each whole tensor, by its name in the files
     * @param ranks     rank r's file and ranges, at index r
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    public record Index(String format, int worldSize, int zero, int step, Map<String, long[]> tensors, List<Rank> ranks) {
        /** One rank's file and the range {@code [start, count]} of each tensor it holds, by name. */
        @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
        public record Rank(String file, Map<String, long[]> slices) {}

        /** Writes the index into checkpoint folder {@code dir}. */
        void write(Path dir) throws IOException {
            AtomicFiles.write(dir.resolve(INDEX), (WRITE.writeValueAsString(this) + "\n").getBytes(StandardCharsets.UTF_8));
        }

        /**
         * The index of checkpoint folder {@code dir}, refused in one sentence naming it and the field where a
         * field is missing or the ranges do not add up to whole tensors.
         */
        static Index read(Path dir) throws IOException {
            Path file = dir.resolve(INDEX);
            Index index = JsonFiles.read(READ, file, Index.class);
            if (!FORMAT.equals(index.format)) {
                throw new IOException(file + ": format is \"" + index.format + "\", not \"" + FORMAT + "\"");
            }
            if (index.ranks.size() != index.worldSize) {
                throw new IOException(file + ": world_size is " + index.worldSize + " but ranks lists " + index.ranks.size());
            }
            for (int r = 0; r < index.ranks.size(); r++) {
                String expected = fileOf(r, index.worldSize);
                if (!expected.equals(index.ranks.get(r).file)) {
                    throw new IOException(file + ": rank " + r + "'s file is " + index.ranks.get(r).file + ", not " + expected);
                }
                for (var s : index.ranks.get(r).slices.entrySet()) {
                    long[] shape = index.tensors.get(s.getKey()), range = s.getValue();
                    if (shape == null) throw new IOException(file + ": rank " + r + " holds " + s.getKey() + ", which tensors does not list");
                    if (range.length != 2 || range[0] < 0 || range[1] < 0 || range[0] + range[1] > Tensor.numel(shape)) {
                        throw new IOException(file + ": rank " + r + "'s range of " + s.getKey() + " is "
                                + java.util.Arrays.toString(range) + ", outside its " + Tensor.numel(shape) + " elements");
                    }
                }
            }
            return index;
        }
    }

    /** Every field must be there: a resumed run that guessed one would start from another state. */
    private static final ObjectMapper READ = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final ObjectMapper WRITE = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Writes rank {@code rank}'s file of {@code ranks} into {@code dir}: {@code slices}, its parts of the
     * tensors by their names in the files, in host memory.
     */
    public static void writeRank(Path dir, int rank, int ranks, Map<String, Tensor> slices, int step) {
        Map<String, Tensor> flat = new LinkedHashMap<>();
        slices.forEach((k, t) -> flat.put(k, t.view(t.numel())));
        SafeTensors.write(dir.resolve(fileOf(rank, ranks)), flat, Map.of("step", Integer.toString(step),
                "rank", Integer.toString(rank), "world_size", Integer.toString(ranks)));
    }
}
