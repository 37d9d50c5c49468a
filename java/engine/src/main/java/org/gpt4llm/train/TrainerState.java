package org.gpt4llm.train;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.annotation.JsonNaming;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.io.FileFingerprint;
import org.gpt4llm.io.JsonFiles;

/**
 * A checkpoint's {@code trainer_state.json}: where the run stood when the checkpoint was written, which
 * is where {@code --resume} continues.
 *
 * @param step          optimizer steps done
 * @param schedulerStep the learning-rate schedule's step (the same as {@code step})
 * @param totalSteps    the run's steps in all
 * @param metricsLines  lines of metrics.jsonl written up to this step
 * @param dataFiles     the {@code --data} files the steps so far were trained on, as they were when the
 *                      run (or its last resumption) read them; null in a checkpoint written before these
 *                      were recorded. Here, not in config.json: they describe the work this checkpoint
 *                      holds, while config.json holds the settings (and is rewritten by every resumption).
 */
@JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
record TrainerState(int step, int schedulerStep, int totalSteps, int metricsLines, Data data, Rng rng,
                    List<FileFingerprint> dataFiles) {
    /** Every field must be there (a resumed run that guessed one would train on other rows); newer ones are ignored. */
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_CREATOR_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /**
     * The position in the data: the order of rows is a function of {@code seed} and the epoch.
     *
     * @param rows          training rows (a resumed run must have as many)
     * @param offsetInEpoch rows of the current epoch already trained on
     */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Data(long seed, int rows, int stepsPerEpoch, int epoch, int offsetInEpoch) {}

    /** The seeds of the dropout masks: {@link Trainer#dropoutSeed(long, int)} of the next step. */
    @JsonNaming(PropertyNamingStrategies.SnakeCaseStrategy.class)
    record Rng(long seed, long nextDropoutSeed) {}

    void write(Path file) throws IOException {
        AtomicFiles.write(file, (TrainConfig.JSON.writeValueAsString(this) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    TrainerState {
        dataFiles = dataFiles == null ? null : List.copyOf(dataFiles);
    }

    /**
     * The state in {@code file}; a missing or wrong field is an error naming the file and the field, but
     * for {@code data_files}, which a checkpoint written before they were recorded lacks (null then).
     */
    static TrainerState read(Path file) throws IOException {
        JsonNode tree = JsonFiles.read(JSON, file, JsonNode.class);
        boolean unrecorded = tree instanceof ObjectNode o && !o.has("data_files");
        if (unrecorded) ((ObjectNode) tree).putArray("data_files");
        TrainerState s = JsonFiles.convert(JSON, file, tree, TrainerState.class);
        return unrecorded ? new TrainerState(s.step, s.schedulerStep, s.totalSteps, s.metricsLines, s.data, s.rng, null) : s;
    }
}
