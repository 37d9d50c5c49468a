package org.gpt4llm.io;

import static org.gpt4llm.io.IoFixtures.assertRejected;
import static org.gpt4llm.io.IoFixtures.assertSameTensors;
import static org.gpt4llm.io.IoFixtures.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
    @TempDir
    Path dir;

    private final long seed = TestSeeds.next();
    private final Random rng = new Random(seed);

    /** A small LLaMA-shaped state dict of odd sizes (4 to 814 bytes; 2688 in all, 3 shards of at most 1000 bytes). */
    private LinkedHashMap<String, Tensor> model(Arena arena) {
        LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", random(arena, rng, DType.BF16, 37, 11));
        for (int l = 0; l < 2; l++) {
            m.put("model.layers." + l + ".self_attn.q_proj.weight", random(arena, rng, DType.F32, 11, 11));
            m.put("model.layers." + l + ".input_layernorm.weight", random(arena, rng, DType.F16, 11));
        }
        m.put("model.norm.weight", random(arena, rng, DType.F32, 11));
        m.put("lm_head.weight", random(arena, rng, DType.BF16, 37, 11));
        m.put("scalar", random(arena, rng, DType.I32));
        return m;
    }

    private List<String> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static long totalBytes(Map<String, Tensor> m) {
        return m.values().stream().mapToLong(Tensor::byteSize).sum();
    }

    @Test
    void singleFileWhenItFits() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> m = model(arena);
            Checkpoint.save(dir, m, totalBytes(m));
            assertEquals(List.of(Checkpoint.SINGLE), files());
            assertSameTensors(m, Checkpoint.load(dir, arena), "seed " + seed);
            assertEquals(Map.of("format", "pt"), SafeTensors.open(dir.resolve(Checkpoint.SINGLE), arena).metadata());
        }
    }

    @Test
    void shardedSaveLoadRoundTripsWithAnIndex() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> m = model(arena);
            long max = 1000; // [embed 814] [q0 484, ln0 22, q1 484] [ln1 22, norm 44, lm_head 814, scalar 4]
            Checkpoint.save(dir, m, max);
            List<String> files = files();
            int k = files.size() - 1;
            assertTrue(k >= 3, "several shards: " + files);
            for (int i = 1; i <= k; i++) {
                assertTrue(files.contains(String.format("model-%05d-of-%05d.safetensors", i, k)), files.toString());
                assertTrue(Files.size(dir.resolve(String.format("model-%05d-of-%05d.safetensors", i, k))) <= max + 1024);
            }
            assertTrue(files.contains(Checkpoint.INDEX));

            JsonNode index = new ObjectMapper().readTree(dir.resolve(Checkpoint.INDEX).toFile());
            assertEquals(totalBytes(m), index.get("metadata").get("total_size").asLong());
            JsonNode wm = index.get("weight_map");
            assertEquals(m.size(), wm.size());
            List<String> keys = new ArrayList<>();
            wm.fieldNames().forEachRemaining(keys::add);
            assertEquals(keys.stream().sorted().toList(), keys, "weight_map sorted by name");
            for (String name : m.keySet()) {
                SafeTensors shard = SafeTensors.open(dir.resolve(wm.get(name).asText()), arena);
                assertTrue(shard.contains(name), name + " in " + wm.get(name));
            }
            String text = Files.readString(dir.resolve(Checkpoint.INDEX));
            assertTrue(text.startsWith("{\n  \"metadata\": {\n    \"total_size\": " + totalBytes(m) + "\n  },\n  \"weight_map\": {\n    \"lm_head.weight\": \"model-"), text);
            assertTrue(text.endsWith("\"\n  }\n}\n"), text);

            assertSameTensors(m, Checkpoint.load(dir, arena), "seed " + seed);

            // Saving the same tensors again gives the same bytes in every file.
            Map<String, byte[]> before = new LinkedHashMap<>();
            for (String f : files) before.put(f, Files.readAllBytes(dir.resolve(f)));
            Checkpoint.save(dir, m, max);
            assertEquals(files, files());
            for (String f : files) assertEquals(-1, java.util.Arrays.mismatch(before.get(f), Files.readAllBytes(dir.resolve(f))), f);
        }
    }

    /**
     * Writers that save the same model at once, each its files: every tensor is in exactly one file, in the
     * model's order; each writer's tensors are one consecutive run; no file passes the shard limit unless one
     * tensor does; no run passes an even share by a tensor or more; and together
     * the files load as the tensors, the same as a one-writer save, with the index transformers writes.
     */
    @Test
    void writersSavingAtOnceSplitTheModelIntoEvenConsecutiveFilesThatLoadAsOne() throws IOException {
        try (Arena arena = Arena.ofShared()) { // the writers' threads read the tensors
            LinkedHashMap<String, Tensor> m = model(arena);
            Map<String, Long> sizes = Checkpoint.sizes(m);
            long total = totalBytes(m), largest = sizes.values().stream().mapToLong(Long::longValue).max().orElseThrow();
            for (int writers = 1; writers <= 10; writers++) {
                for (long max : new long[] {total, 1000, 600}) {
                    String what = writers + " writers, files of at most " + max + " bytes";
                    List<Checkpoint.WriterFile> files = Checkpoint.filesOfWriters(sizes, writers, max);
                    List<String> order = new ArrayList<>();
                    long[] runBytes = new long[writers];
                    int lastWriter = 0;
                    for (Checkpoint.WriterFile f : files) {
                        assertTrue(f.writer() >= lastWriter && f.writer() < writers, what + ": " + files);
                        lastWriter = f.writer();
                        assertFalse(f.tensors().isEmpty(), what + ": an empty file " + f.name());
                        long bytes = 0;
                        for (String t : f.tensors()) bytes += sizes.get(t);
                        assertTrue(bytes <= max || f.tensors().size() == 1, what + ": " + f.name() + " holds " + bytes + " bytes");
                        runBytes[f.writer()] += bytes;
                        order.addAll(f.tensors());
                    }
                    assertEquals(List.copyOf(m.keySet()), order, what + ": every tensor once, in order");
                    // a run ends once it reaches its share of what is left, so it passes that by less than one tensor
                    for (long b : runBytes) {
                        assertTrue(b < largest + (total + writers - 1) / writers, what + ": a run of " + b + " of " + total + " bytes");
                    }
                    assertEquals(files.size() == 1 ? List.of(Checkpoint.SINGLE) : java.util.stream.IntStream.rangeClosed(1, files.size())
                            .mapToObj(i -> String.format("model-%05d-of-%05d.safetensors", i, files.size())).toList(),
                            files.stream().map(Checkpoint.WriterFile::name).toList(), what);
                }
            }
            // 3 writers, each in its own thread as ranks are, then the same model saved by one
            Path byThree = dir.resolve("three"), byOne = dir.resolve("one");
            Files.createDirectories(byThree);
            List<Thread> threads = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            List<Map<String, Tensor>> given = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int w = 0; w < 3; w++) {
                int writer = w;
                threads.add(Thread.ofPlatform().start(() -> {
                    try {
                        Checkpoint.saveAsWriter(byThree, sizes, writer, 3, 1000, keep -> {
                            Map<String, Tensor> mine = new LinkedHashMap<>();
                            m.forEach((name, t) -> {
                                if (keep.test(name)) mine.put(name, t);
                            });
                            given.add(mine);
                            return mine;
                        });
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (Thread t : threads) t.join();
            assertEquals(List.of(), failures);
            assertEquals(m.size(), given.stream().mapToInt(Map::size).sum(), "each writer copies only its own tensors");
            assertSameTensors(m, Checkpoint.load(byThree, arena), "seed " + seed);
            Checkpoint.save(byOne, m, 1000);
            JsonNode three = new ObjectMapper().readTree(byThree.resolve(Checkpoint.INDEX).toFile());
            JsonNode one = new ObjectMapper().readTree(byOne.resolve(Checkpoint.INDEX).toFile());
            assertEquals(one.get("metadata"), three.get("metadata"));
            assertEquals(one.get("weight_map").size(), three.get("weight_map").size());
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void aLaterSaveRemovesOnlyTheFilesOfTheEarlierOne() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> m = model(arena);
            Files.writeString(dir.resolve("config.json"), "{}");
            Files.writeString(dir.resolve("model-notes.safetensors.txt"), "keep me");

            Checkpoint.save(dir, m, 600);
            int k1 = files().size() - 3;
            Checkpoint.save(dir, m, 1200);
            List<String> files = files();
            int k2 = files.size() - 3;
            assertTrue(k2 < k1 && k2 > 1, files.toString());
            assertTrue(files.stream().filter(f -> f.startsWith("model-0")).allMatch(f -> f.contains(String.format("-of-%05d", k2))), files.toString());
            assertSameTensors(m, Checkpoint.load(dir, arena), "resharded, seed " + seed);

            Checkpoint.save(dir, m, Long.MAX_VALUE);
            assertEquals(List.of("config.json", "model-notes.safetensors.txt", Checkpoint.SINGLE), files());
            assertSameTensors(m, Checkpoint.load(dir, arena), "single again, seed " + seed);

            Checkpoint.save(dir, m, 1200);
            assertFalse(files().contains(Checkpoint.SINGLE));
            assertSameTensors(m, Checkpoint.load(dir, arena), "sharded again, seed " + seed);
        }
    }

    @Test
    void savingOverTheCheckpointItWasLoadedFrom() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> m = model(arena);
            Checkpoint.save(dir, m, 1000);
            LinkedHashMap<String, Tensor> loaded = Checkpoint.load(dir, arena);
            Checkpoint.save(dir, loaded, Long.MAX_VALUE);
            Checkpoint.save(dir, Checkpoint.load(dir, arena), 1000);
            assertSameTensors(m, Checkpoint.load(dir, arena), "seed " + seed);
            assertSameTensors(m, loaded, "the first mapping survives, seed " + seed);
        }
    }

    @Test
    void brokenShardedCheckpointsAreNamed() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> m = model(arena);
            Checkpoint.save(dir, m, 1000);
            assertEquals(List.of("model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                    "model-00003-of-00003.safetensors", Checkpoint.INDEX), files());
            Path index = dir.resolve(Checkpoint.INDEX);
            String good = Files.readString(index);
            String first = "\"lm_head.weight\": \"model-";

            // A tensor listed for a shard that does not hold it.
            Files.writeString(index, good.replace(first,
                    "\"lm_head.weight.missing\": \"model-00002-of-00003.safetensors\",\n    " + first));
            assertRejected(() -> Checkpoint.load(dir, arena), "model-00002-of-00003.safetensors", "lm_head.weight.missing");

            // A tensor in two shards.
            LinkedHashMap<String, Tensor> extra = new LinkedHashMap<>();
            extra.put("extra", m.get("scalar"));
            extra.put("model.norm.weight", m.get("model.norm.weight"));
            SafeTensors.write(dir.resolve("model-00004-of-00003.safetensors"), extra, null);
            Files.writeString(index, good.replace(first, "\"extra\": \"model-00004-of-00003.safetensors\",\n    " + first));
            assertRejected(() -> Checkpoint.load(dir, arena), "model.norm.weight", "model-00004-of-00003.safetensors",
                    "model-00003-of-00003.safetensors");
            Files.delete(dir.resolve("model-00004-of-00003.safetensors"));

            // A shard file that is gone.
            Files.writeString(index, good);
            Files.delete(dir.resolve("model-00002-of-00003.safetensors"));
            assertRejected(() -> Checkpoint.load(dir, arena), "model-00002-of-00003.safetensors");

            // An index that is not JSON, has no weight_map, or points outside the folder.
            Files.writeString(index, "{\"weight_map\": {\"a\": \"x\",}}");
            assertRejected(() -> Checkpoint.load(dir, arena), Checkpoint.INDEX);
            Files.writeString(index, "{\"metadata\": {}}");
            assertRejected(() -> Checkpoint.load(dir, arena), Checkpoint.INDEX, "weight_map");
            Files.writeString(index, "{\"weight_map\": {\"evil\": \"../model.safetensors\"}}");
            assertRejected(() -> Checkpoint.load(dir, arena), Checkpoint.INDEX, "evil");

            // Neither form present, and not a folder at all.
            Files.delete(index);
            assertRejected(() -> Checkpoint.load(dir, arena), dir.toString(), Checkpoint.SINGLE, Checkpoint.INDEX);
            assertRejected(() -> Checkpoint.load(dir.resolve("nope"), arena), "nope");
        }
    }

    @Test
    void aBadShardIsReportedWithItsName() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Checkpoint.save(dir, model(arena), 1000);
            Path shard = dir.resolve("model-00002-of-00003.safetensors");
            byte[] b = Files.readAllBytes(shard);
            Files.write(shard, java.util.Arrays.copyOf(b, b.length - 1));
            assertRejected(() -> Checkpoint.load(dir, arena), "model-00002-of-00003.safetensors");
        }
    }
}
