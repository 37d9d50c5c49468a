package org.gpt4llm.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.data.DpoBatch;
import org.gpt4llm.data.DpoDataset;
import org.gpt4llm.io.AtomicFiles;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;

/**
 * The reference model's summed log-probabilities of every pair's chosen and rejected response, computed
 * once before DPO trains and cached in the run folder ({@value #FILE}, written atomically), so that
 * training never runs the reference and {@code --resume} reads them back instead of recomputing. The
 * file names a fingerprint of the reference model's folder (its files' names, sizes and times) and of
 * every pair's tokens; a cache whose fingerprint differs is computed again.
 */
public final class ReferenceLogProbs {
    public static final String FILE = "reference_logps.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ReferenceLogProbs() {}

    /** Runs work on the reference model: the base with the adapters switched off, or a frozen copy. */
    @FunctionalInterface
    public interface Reference {
        void run(Consumer<DecoderModel> work) throws IOException;

        /** With LoRA: the policy's own base, adapters switched off for the work (no second copy of the weights). */
        static Reference adaptersOff(DecoderModel policy) {
            return work -> {
                policy.setAdaptersEnabled(false);
                try {
                    work.accept(policy);
                } finally {
                    policy.setAdaptersEnabled(true);
                }
            };
        }

        /** Full fine-tuning: a separate copy of the model in {@code dir}, frozen, freed after the work. */
        static Reference frozenCopy(Backend backend, Path dir) {
            return work -> {
                try (DecoderModel copy = DecoderModels.load(backend, dir)) {
                    work.accept(copy);
                }
            };
        }
    }

    /**
     * Attaches the reference log-probabilities to every dataset of {@code sets} (by name: train, eval),
     * read from {@code runDir}'s cache when its fingerprint matches, else computed with {@code reference}
     * in micro-batches of {@code microBatch} pairs (evaluation mode) and cached. Returns whether they were read.
     */
    public static boolean attach(Path runDir, Path modelDir, Map<String, DpoDataset> sets, Reference reference,
                                 int microBatch, Consumer<String> notes) throws IOException {
        String fingerprint = fingerprint(modelDir, sets);
        Path file = runDir.resolve(FILE);
        Map<String, float[][]> cached = read(file, fingerprint, sets, notes);
        if (cached != null) {
            sets.forEach((name, ds) -> ds.attachReference(cached.get(name)[0], cached.get(name)[1]));
            notes.accept("reference log-probabilities read from " + file);
            return true;
        }
        Map<String, float[][]> computed = new LinkedHashMap<>();
        reference.run(model -> {
            model.setTraining(false);
            try {
                sets.forEach((name, ds) -> computed.put(name, compute(model, ds, microBatch)));
            } finally {
                model.setTraining(true);
            }
        });
        sets.forEach((name, ds) -> ds.attachReference(computed.get(name)[0], computed.get(name)[1]));
        ObjectNode root = JSON.createObjectNode();
        root.put("fingerprint", fingerprint);
        computed.forEach((name, v) -> {
            ObjectNode set = root.putObject(name);
            floats(set.putArray("chosen"), v[0]);
            floats(set.putArray("rejected"), v[1]);
        });
        Files.createDirectories(runDir);
        AtomicFiles.write(file, JSON.writeValueAsBytes(root));
        notes.accept("reference log-probabilities of " + sets.values().stream().mapToInt(DpoDataset::size).sum()
                + " pairs computed and written to " + file);
        return false;
    }

    /** {chosen, rejected} log-probabilities of every pair of {@code ds} under {@code model}. */
    static float[][] compute(DecoderModel model, DpoDataset ds, int microBatch) {
        int n = ds.size();
        float[][] out = {new float[n], new float[n]};
        for (int from = 0; from < n; from += microBatch) {
            int[] rows = new int[Math.min(microBatch, n - from)];
            for (int i = 0; i < rows.length; i++) rows[i] = from + i;
            DpoBatch b = ds.batch(rows);
            float[] logp = DpoTraining.logProbs(model, b.tokens());
            for (int i = 0; i < rows.length; i++) {
                out[0][from + i] = logp[i];
                out[1][from + i] = logp[rows.length + i];
            }
        }
        return out;
    }

    private static void floats(ArrayNode a, float[] v) {
        for (float f : v) a.add(f);
    }

    /** The cache's values by set name, or null (with a note) when absent, unreadable or of other inputs. */
    private static Map<String, float[][]> read(Path file, String fingerprint, Map<String, DpoDataset> sets,
                                               Consumer<String> notes) {
        if (!Files.isRegularFile(file)) return null;
        try {
            JsonNode root = JSON.readTree(file.toFile());
            if (!fingerprint.equals(root.path("fingerprint").asText(null))) {
                notes.accept(file + " holds the reference log-probabilities of another model or other data: computing them again");
                return null;
            }
            Map<String, float[][]> out = new LinkedHashMap<>();
            for (var e : sets.entrySet()) {
                JsonNode set = root.get(e.getKey());
                float[] c = floats(set == null ? null : set.get("chosen")), r = floats(set == null ? null : set.get("rejected"));
                if (c == null || r == null || c.length != e.getValue().size() || r.length != e.getValue().size()) {
                    notes.accept(file + " lacks the " + e.getKey() + " pairs: computing them again");
                    return null;
                }
                out.put(e.getKey(), new float[][] {c, r});
            }
            return out;
        } catch (IOException e) {
            notes.accept(file + " is not readable (" + e.getMessage() + "): computing it again");
            return null;
        }
    }

    private static float[] floats(JsonNode a) {
        if (a == null || !a.isArray()) return null;
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            if (!a.get(i).isNumber()) return null;
            out[i] = a.get(i).floatValue();
        }
        return out;
    }

    /** SHA-256 of the model folder's file names, sizes and times, and of every pair's tokens and targets. */
    static String fingerprint(Path modelDir, Map<String, DpoDataset> sets) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        md.update(modelDir.toAbsolutePath().normalize().toString().getBytes(StandardCharsets.UTF_8));
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(modelDir)) {
            s.filter(Files::isRegularFile).sorted().forEach(files::add);
        }
        for (Path f : files) {
            md.update((f.getFileName() + ":" + Files.size(f) + ":" + Files.getLastModifiedTime(f).toMillis() + "\n")
                    .getBytes(StandardCharsets.UTF_8));
        }
        for (var e : sets.entrySet()) {
            md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            DpoDataset ds = e.getValue();
            for (int i = 0; i < ds.size(); i++) {
                var p = ds.pair(i);
                for (int[] v : new int[][] {p.chosen().ids(), p.chosen().labels(), p.rejected().ids(), p.rejected().labels()}) {
                    for (int x : v) md.update(new byte[] {(byte) (x >>> 24), (byte) (x >>> 16), (byte) (x >>> 8), (byte) x});
                    md.update((byte) 0xff);
                }
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
