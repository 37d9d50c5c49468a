package org.gpt4llm.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.gpt4llm.datagen.files.FileErrors;
import org.gpt4llm.datagen.files.NotUtf8Exception;
import org.gpt4llm.datagen.files.TextFiles;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;

/**
 * The weights of a Hugging Face model folder: either one {@code model.safetensors}, or shards
 * {@code model-00001-of-0000K.safetensors} listed by {@code model.safetensors.index.json}
 * ({@code {"metadata": {"total_size": N}, "weight_map": {tensor: shard}}}), as transformers'
 * {@code save_pretrained} writes them. When both forms are present the single file wins, as in
 * transformers.
 */
public final class Checkpoint {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    private static final Pattern SHARD = Pattern.compile("model-\\d{5,}-of-\\d{5,}\\.safetensors");
    /** What transformers writes into (and expects in) the metadata of model files. */
    private static final Map<String, String> FORMAT_PT = Map.of("format", "pt");

    private Checkpoint() {
    }

    /**
     * All tensors of the checkpoint in {@code dir}, mapped into {@code arena} in their file dtypes:
     * in file order for a single file; for shards, shard by shard (by file name) in each shard's order.
     * A shard may hold tensors its index does not list; they are loaded too, as transformers does.
     */
    public static LinkedHashMap<String, Tensor> load(Path dir, Arena arena) {
        if (!Files.isDirectory(dir)) {
            throw new CheckpointException(dir + ": is not a directory holding a checkpoint");
        }
        Path single = dir.resolve(SINGLE);
        if (Files.exists(single)) {
            return SafeTensors.open(single, arena).tensors();
        }
        Path indexFile = dir.resolve(INDEX);
        if (!Files.exists(indexFile)) {
            throw new CheckpointException(dir + ": holds neither " + SINGLE + " nor " + INDEX);
        }
        Map<String, String> weightMap = readIndex(indexFile);

        // Open every shard the index names, in name order (which is shard order for standard names).
        Map<String, String> firstTensorOf = new TreeMap<>();
        weightMap.forEach((tensor, shard) -> firstTensorOf.putIfAbsent(shard, tensor));
        Map<String, SafeTensors> shards = new LinkedHashMap<>();
        for (Map.Entry<String, String> s : firstTensorOf.entrySet()) {
            Path shardFile = dir.resolve(s.getKey());
            if (!Files.exists(shardFile)) {
                throw new CheckpointException(shardFile + ": shard file does not exist, but " + INDEX
                        + " places tensor " + s.getValue() + " in it");
            }
            shards.put(s.getKey(), SafeTensors.open(shardFile, arena));
        }
        for (Map.Entry<String, String> w : weightMap.entrySet()) {
            SafeTensors shard = shards.get(w.getValue());
            if (!shard.contains(w.getKey())) {
                throw new CheckpointException(shard.file() + ": tensor " + w.getKey() + " is listed for this shard in "
                        + INDEX + " but the shard does not hold it");
            }
        }
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        Map<String, SafeTensors> holder = new LinkedHashMap<>();
        for (SafeTensors shard : shards.values()) {
            for (String name : shard.names()) {
                SafeTensors other = holder.putIfAbsent(name, shard);
                if (other != null) {
                    throw new CheckpointException(shard.file() + ": tensor " + name + " is also in "
                            + other.file().getFileName() + ", and a checkpoint may hold each tensor once");
                }
                out.put(name, shard.tensor(name));
            }
        }
        return out;
    }

    /**
     * The floating type most bytes of the checkpoint's matrices in {@code dir} are stored in (F32, F16 or
     * BF16: the checkpoint's own dtype, as its safetensors headers say); F32 when it holds no such matrix.
     * The files are only mapped, not read.
     */
    public static DType storedType(Path dir) {
        Map<DType, Long> bytes = new java.util.EnumMap<>(DType.class);
        try (Arena mapping = Arena.ofShared()) {
            for (Tensor t : load(dir, mapping).values()) {
                if (t.rank() >= 2 && t.dtype().isFloating()) bytes.merge(t.dtype(), t.byteSize(), Long::sum);
            }
        }
        return bytes.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(DType.F32);
    }

    /**
     * The file of the checkpoint in {@code dir} that holds {@code tensor} (the single file, else the shard
     * its index names), for messages about it; {@code dir} itself where neither says.
     */
    public static Path fileOf(Path dir, String tensor) {
        Path single = dir.resolve(SINGLE), index = dir.resolve(INDEX);
        if (Files.exists(single) || !Files.exists(index)) return Files.exists(single) ? single : dir;
        String shard = readIndex(index).get(tensor);
        return shard == null ? dir : dir.resolve(shard);
    }

    /** The weight_map of an index file, validated: tensor name → shard file name (a plain file in the folder). */
    private static Map<String, String> readIndex(Path indexFile) {
        JsonNode root;
        try {
            root = SafeTensorsHeader.JSON.readTree(TextFiles.read(indexFile));
        } catch (JacksonException e) {
            throw new CheckpointException(indexFile + ": is not valid JSON (" + SafeTensorsHeader.describe(e) + ")", e);
        } catch (NotUtf8Exception e) {
            throw new CheckpointException(e.getMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(indexFile + ": cannot be read (" + FileErrors.reason(e) + ")", e);
        }
        JsonNode map = root == null ? null : root.get("weight_map");
        if (map == null || !map.isObject()) {
            throw new CheckpointException(indexFile + ": has no \"weight_map\" object mapping tensor names to shard files");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            JsonNode v = e.getValue();
            String shard = v.isTextual() ? v.textValue() : null;
            if (shard == null || shard.isEmpty() || shard.contains("/") || shard.contains("\\")
                    || shard.equals(".") || shard.equals("..")) {
                throw new CheckpointException(indexFile + ": tensor " + e.getKey() + " is mapped to " + v
                        + ", which is not the name of a file in this folder");
            }
            out.put(e.getKey(), shard);
        }
        return out;
    }

    /**
     * Saves {@code tensors} (in their iteration order) into {@code dir}: one {@code model.safetensors}
     * when their bytes total at most {@code maxShardBytes}, else consecutive shards of at most that
     * many bytes each (a tensor larger than that gets a shard of its own) plus the index, sorted as
     * transformers writes it. Each file is written atomically; all shards are complete on disk
     * before the first is renamed into place, the index goes last, and only then are the files of an
     * earlier save in {@code dir} that the new one does not use removed. Temp files a killed earlier
     * save left in {@code dir} are removed first.
     */
    public static void save(Path dir, Map<String, Tensor> tensors, long maxShardBytes) {
        if (maxShardBytes <= 0) {
            throw new IllegalArgumentException("maxShardBytes must be positive, not " + maxShardBytes);
        }
        try {
            Files.createDirectories(dir);
            // a killed earlier save may have left shards it never renamed, whatever their count
            AtomicFiles.removeStaleTemps(dir);
            List<LinkedHashMap<String, Tensor>> shards = split(tensors, maxShardBytes);
            Set<String> keep = new TreeSet<>();
            if (shards.size() <= 1) {
                SafeTensors.write(dir.resolve(SINGLE), tensors, FORMAT_PT);
                keep.add(SINGLE);
            } else {
                int k = shards.size();
                List<String> names = new ArrayList<>();
                List<Path> temps = new ArrayList<>();
                try {
                    for (int i = 0; i < k; i++) {
                        names.add(shardName(i, k));
                        temps.add(SafeTensors.writeTemp(dir.resolve(names.get(i)), shards.get(i), FORMAT_PT));
                    }
                } catch (IOException | RuntimeException e) {
                    for (Path t : temps) Files.deleteIfExists(t);
                    throw e;
                }
                for (int i = 0; i < k; i++) AtomicFiles.commit(temps.get(i), dir.resolve(names.get(i)));
                AtomicFiles.syncDirectory(dir);
                byte[] index = indexJson(shards, names);
                AtomicFiles.write(dir.resolve(INDEX), out -> AtomicFiles.writeFully(out, ByteBuffer.wrap(index)));
                keep.addAll(names);
                keep.add(INDEX);
            }
            removeStale(dir, keep);
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot save the checkpoint (" + FileErrors.reason(e) + ")", e);
        }
    }

    /** Consecutive groups of at most {@code max} bytes, in order; a tensor larger than {@code max} stands alone. */
    static List<LinkedHashMap<String, Tensor>> split(Map<String, Tensor> tensors, long max) {
        List<LinkedHashMap<String, Tensor>> out = new ArrayList<>();
        for (List<String> group : splitSizes(sizes(tensors), max)) {
            LinkedHashMap<String, Tensor> shard = new LinkedHashMap<>();
            for (String name : group) shard.put(name, tensors.get(name));
            out.add(shard);
        }
        return out;
    }

    /** The index of {@code shards} (saved under {@code names}) as transformers writes it. */
    private static byte[] indexJson(List<LinkedHashMap<String, Tensor>> shards, List<String> names) throws IOException {
        long total = 0;
        Map<String, String> weightMap = new LinkedHashMap<>();  // sorted as it is written
        for (int i = 0; i < shards.size(); i++) {
            for (Map.Entry<String, Tensor> e : shards.get(i).entrySet()) {
                total += e.getValue().byteSize();
                weightMap.put(e.getKey(), names.get(i));
            }
        }
        return indexJson(weightMap, total);
    }

    /** The index as transformers writes it: json.dumps(index, indent=2, sort_keys=True) + "\n". */
    private static byte[] indexJson(Map<String, String> weightMap, long total) throws IOException {
        DefaultPrettyPrinter pretty = new DefaultPrettyPrinter(Separators.createDefaultInstance()
                .withObjectFieldValueSpacing(Separators.Spacing.AFTER))
                .withObjectIndenter(new DefaultIndenter("  ", "\n"));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (JsonGenerator g = SafeTensorsHeader.JSON.getFactory().createGenerator(buf)) {
            g.setPrettyPrinter(pretty);
            g.enable(JsonWriteFeature.ESCAPE_NON_ASCII.mappedFeature());
            g.writeStartObject();
            g.writeObjectFieldStart("metadata");
            g.writeNumberField("total_size", total);
            g.writeEndObject();
            g.writeObjectFieldStart("weight_map");
            for (Map.Entry<String, String> e : new TreeMap<>(weightMap).entrySet()) g.writeStringField(e.getKey(), e.getValue());
            g.writeEndObject();
            g.writeEndObject();
        }
        buf.write('\n');
        return buf.toByteArray();
    }

    /** Removes the weight files of an earlier save that {@code keep} does not name: the index first, then shards. */
    private static void removeStale(Path dir, Set<String> keep) throws IOException {
        List<Path> stale = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            files.forEach(p -> {
                String n = p.getFileName().toString();
                if (!keep.contains(n) && (n.equals(INDEX) || n.equals(SINGLE) || SHARD.matcher(n).matches())) {
                    stale.add(p);
                }
            });
        }
        stale.sort((a, b) -> Boolean.compare(!a.endsWith(INDEX), !b.endsWith(INDEX)));
        for (Path p : stale) Files.deleteIfExists(p);
        if (!stale.isEmpty()) AtomicFiles.syncDirectory(dir);
    }

    /** One weight file of a checkpoint that several writers save at once: its name, its writer, its tensors in order. */
    record WriterFile(String name, int writer, List<String> tensors) {
    }

    /**
     * The weight files of a checkpoint that {@code writers} save at once, each writing its own files of the
     * same model (as every rank of a data-parallel run does, in parallel): the tensors ({@code bytes}: name
     * to size, in the model's order) cut into at most {@code writers} consecutive runs of about equal bytes,
     * each run cut again where it passes {@code maxShardBytes}. One file in all is {@code model.safetensors};
     * more are transformers' numbered shards, listed by the index ({@link #saveIndex}). Every writer computes
     * the same files from the same sizes, so no writer needs to hear from another.
     */
    static List<WriterFile> filesOfWriters(Map<String, Long> bytes, int writers, long maxShardBytes) {
        if (writers < 1) throw new IllegalArgumentException("a checkpoint needs at least one writer, not " + writers);
        List<List<String>> runs = new ArrayList<>();
        long left = bytes.values().stream().mapToLong(Long::longValue).sum();
        List<String> run = new ArrayList<>();
        long runBytes = 0, target = ceilDiv(left, writers);
        int seen = 0;
        for (Map.Entry<String, Long> e : bytes.entrySet()) {
            run.add(e.getKey());
            runBytes += e.getValue();
            seen++;
            // the rest is shared evenly among the writers still without a run, so one large tensor does not starve them
            if (runBytes >= target && runs.size() + 1 < writers && seen < bytes.size()) {
                runs.add(run);
                left -= runBytes;
                target = ceilDiv(left, writers - runs.size());
                run = new ArrayList<>();
                runBytes = 0;
            }
        }
        runs.add(run);
        List<List<String>> files = new ArrayList<>();
        List<Integer> writerOf = new ArrayList<>();
        for (int w = 0; w < runs.size(); w++) {
            LinkedHashMap<String, Long> sizes = new LinkedHashMap<>();
            for (String name : runs.get(w)) sizes.put(name, bytes.get(name));
            for (List<String> file : splitSizes(sizes, maxShardBytes)) {
                files.add(file);
                writerOf.add(w);
            }
        }
        List<WriterFile> out = new ArrayList<>();
        for (int i = 0; i < files.size(); i++) {
            String name = files.size() == 1 ? SINGLE : shardName(i, files.size());
            out.add(new WriterFile(name, writerOf.get(i), files.get(i)));
        }
        return out;
    }

    /** The name transformers gives shard {@code i} (from 0) of {@code k}. */
    private static String shardName(int i, int k) {
        return String.format("model-%05d-of-%05d.safetensors", i + 1, k);
    }

    private static long ceilDiv(long a, long b) {
        return Math.max(1, (a + b - 1) / b);
    }

    /** Consecutive groups of at most {@code max} bytes, in order, by name; a tensor larger than {@code max} stands alone. */
    private static List<List<String>> splitSizes(Map<String, Long> bytes, long max) {
        List<List<String>> out = new ArrayList<>();
        List<String> cur = new ArrayList<>();
        long curBytes = 0;
        for (Map.Entry<String, Long> e : bytes.entrySet()) {
            if (!cur.isEmpty() && curBytes + e.getValue() > max) {
                out.add(cur);
                cur = new ArrayList<>();
                curBytes = 0;
            }
            cur.add(e.getKey());
            curBytes += e.getValue();
        }
        if (!cur.isEmpty() || out.isEmpty()) out.add(cur);
        return out;
    }

    /**
     * Writer {@code writer}'s files of {@code files} into {@code dir} (a checkpoint's temp folder, renamed into
     * place once every writer is done), from {@code tensors}, which holds at least their tensors.
     */
    private static void saveFilesOf(Path dir, List<WriterFile> files, int writer, Map<String, Tensor> tensors) {
        for (WriterFile f : files) {
            if (f.writer() != writer) continue;
            LinkedHashMap<String, Tensor> mine = new LinkedHashMap<>();
            for (String name : f.tensors()) {
                Tensor t = tensors.get(name);
                if (t == null) throw new IllegalArgumentException("writer " + writer + " was not given " + name + ", which " + f.name() + " holds");
                mine.put(name, t);
            }
            SafeTensors.write(dir.resolve(f.name()), mine, FORMAT_PT);
        }
    }

    /**
     * Writer {@code writer}'s part of saving the weights {@code bytes} (name to size, in the model's order) into
     * {@code dir} while {@code writers} writers save the same model: its files of {@link #filesOfWriters},
     * from the host copies {@code copiesOf} makes of the tensors it is given to keep; writer 0 also writes the
     * index. Each writer calls {@code copiesOf} once, whether it keeps any tensor or not.
     */
    public static void saveAsWriter(Path dir, Map<String, Long> bytes, int writer, int writers, long maxShardBytes,
            java.util.function.Function<java.util.function.Predicate<String>, Map<String, Tensor>> copiesOf) {
        List<WriterFile> files = filesOfWriters(bytes, writers, maxShardBytes);
        Set<String> mine = new java.util.HashSet<>();
        for (WriterFile f : files) if (f.writer() == writer) mine.addAll(f.tensors());
        saveFilesOf(dir, files, writer, copiesOf.apply(mine::contains));
        if (writer == 0) saveIndex(dir, files, bytes);
    }

    /** The sizes in bytes of {@code tensors}, by name, in their order: what {@link #saveAsWriter} splits. */
    public static LinkedHashMap<String, Long> sizes(Map<String, Tensor> tensors) {
        LinkedHashMap<String, Long> out = new LinkedHashMap<>();
        tensors.forEach((name, t) -> out.put(name, t.byteSize()));
        return out;
    }

    /** The index of {@code files} in {@code dir} when there is more than one, with the tensors' {@code bytes}. */
    private static void saveIndex(Path dir, List<WriterFile> files, Map<String, Long> bytes) {
        if (files.size() <= 1) return;
        Map<String, String> weightMap = new LinkedHashMap<>();
        for (WriterFile f : files) for (String name : f.tensors()) weightMap.put(name, f.name());
        try {
            byte[] index = indexJson(weightMap, bytes.values().stream().mapToLong(Long::longValue).sum());
            AtomicFiles.write(dir.resolve(INDEX), out -> AtomicFiles.writeFully(out, ByteBuffer.wrap(index)));
        } catch (IOException e) {
            throw new CheckpointException(dir + ": cannot save the checkpoint's index (" + FileErrors.reason(e) + ")", e);
        }
    }

    /** A new F32 copy of an F32, F16 or BF16 tensor, owned by {@code arena}. */
    public static Tensor toF32(Tensor t, Arena arena) {
        return Precision.toF32(t, arena);
    }

    /** A new {@code target} (F32, F16 or BF16) copy of an F32 tensor, rounded to nearest even. */
    public static Tensor fromF32(Tensor f32, DType target, Arena arena) {
        return Precision.fromF32(f32, target, arena);
    }
}
