package org.gpt4llm.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.gpt4llm.cli.Main;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.io.CheckpointException;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.FileTrees;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code gpt4llm import-gguf} on GGUF files written here as llama.cpp writes them: exact round trips and
 * one-sentence errors; and killed at random moments, an import whose next run leaves nothing behind.
 */
class GgufImportTest {
    @TempDir
    Path dir;

    /** The process to kill: imports {@code args[0]} into {@code args[1]} (with --force) over and over. */
    public static void main(String[] args) {
        while (true) {
            int code = Main.commandLine().execute("import-gguf", args[0], "--out", args[1], "--force");
            if (code != 0) System.exit(code);
        }
    }

    @Test
    void killedImportsLeaveNothingForTheNextImport() throws Exception {
        Path gguf = SharedFiles.get("models/stories260K.gguf");
        Path models = Files.createDirectories(dir.resolve("models")), out = models.resolve("stories260K");
        Path reference = dir.resolve("reference");
        assertEquals(0, CliRun.of("import-gguf", gguf.toString(), "--out", reference.toString()).code());
        Random random = TestSeeds.random();
        for (int kill = 1; kill <= 3; kill++) {
            Path log = dir.resolve("import" + kill + ".log");
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                    GgufImportTest.class.getName(), gguf.toString(), out.toString())
                    .redirectErrorStream(true).redirectOutput(log.toFile()).start();
            long deadline = System.nanoTime() + 60_000_000_000L;
            // once an import has finished, a random moment of the ones that follow it
            while (p.isAlive() && !Files.readString(log).contains("wrote ") && System.nanoTime() < deadline) Thread.sleep(2);
            Thread.sleep(random.nextInt(150));
            assertTrue(p.isAlive(), "import " + kill + " ended before it could be killed: " + Files.readString(log));
            p.destroyForcibly().waitFor();
        }
        CliRun r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString(), "--force");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("stories260K"), FileTrees.names(models), "no staging folder left behind");
        assertEquals(FileTrees.names(reference), FileTrees.names(out), "a complete model folder");
        for (String f : FileTrees.names(reference)) {
            assertArrayEquals(Files.readAllBytes(reference.resolve(f)), Files.readAllBytes(out.resolve(f)), f);
            FilePermissions.assertUmaskDefault(out.resolve(f));
        }
    }

    @Test
    void anUnwritableFolderIsNamedAsTheOutGivenNotItsStagingFolder() throws Exception {
        Path gguf = SharedFiles.get("models/stories260K.gguf");
        Path locked = Files.createDirectories(dir.resolve("locked")), out = locked.resolve("model");
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            Assumptions.assumeFalse(Files.isWritable(locked), "this user (root) may write into any folder");
            CliRun r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString());
            assertEquals(2, r.code());
            assertEquals("gpt4llm import-gguf: " + out + ": cannot be written (permission denied in " + locked + ")\n", r.err());
        } finally {
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }


    @Test
    void f32RoundTripIsBitIdentical() throws Exception {
        roundTrip(GgmlType.F32, 3, 64, false);
    }

    @Test
    void f16VersionTwoTiedRoundTripIsTheWidenedHalves() throws Exception {
        roundTrip(GgmlType.F16, 2, GgufFile.DEFAULT_ALIGNMENT, true);
    }

    @Test
    void bf16RoundTripIsTheWidenedBfloats() throws Exception {
        roundTrip(GgmlType.BF16, 3, GgufFile.DEFAULT_ALIGNMENT, false);
    }

    private void roundTrip(int ggmlType, int version, int alignment, boolean tied) throws Exception {
        LlamaConfig cfg = LlamaGgufFixture.config(tied);
        Path gguf = dir.resolve("model.gguf"), out = dir.resolve("hf");
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> hf = LlamaGgufFixture.randomWeights(cfg, new Random(TestSeeds.next()), arena);
            LlamaGgufFixture.write(gguf, cfg, hf, ggmlType, version, alignment, arena);
            CliRun r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("vocab " + cfg.vocabSize()), r.out());

            assertEquals(cfg, LlamaConfig.read(out.resolve("config.json")));
            Map<String, Tensor> imported = Checkpoint.load(out, arena);
            assertEquals(List.copyOf(hf.keySet()), List.copyOf(imported.keySet()), "every tensor, in checkpoint order");
            for (Map.Entry<String, Tensor> e : hf.entrySet()) {
                float[] expected = e.getValue().toFloatArray();
                if (ggmlType != GgmlType.F32) expected = GgufWriter.widen(GgufWriter.encode(expected, ggmlType), ggmlType);
                Tensor got = imported.get(e.getKey());
                assertArrayEquals(e.getValue().shape(), got.shape(), e.getKey());
                assertArrayEquals(bits(expected), bits(Checkpoint.toF32(got, arena).toFloatArray()), e.getKey());
            }
        }
        try (HfTokenizer tok = Tokenizers.load(out)) {
            assertEquals(cfg.vocabSize(), tok.vocabSize());
            assertEquals(1, tok.bosId());
            assertEquals(2, tok.eosId());
            String text = "the cat sat on the hat";
            assertArrayEquals(ids("\u2581the", "\u2581cat", "\u2581sat", "\u2581on", "\u2581the", "\u2581hat"), tok.encode(text));
            assertEquals(text, tok.decode(tok.encode(text)));
            // characters outside the vocabulary fall back to their UTF-8 bytes, and decode back
            assertArrayEquals(ids("\u2581c", "a", "f", "<0xC3>", "<0xA9>"), tok.encode("caf\u00e9"));
            String unusual = "the caf\u00e9, \u732b! \ud83d\udc08";
            assertEquals(unusual, tok.decode(tok.encode(unusual)));
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of("hf", "model.gguf"), s.map(p -> p.getFileName().toString()).sorted().toList(), "no staging left");
        }
    }

    /** Piece ids of {@code pieces}; "f" is not a piece, so it stands for its byte token. */
    private static int[] ids(String... pieces) {
        return Arrays.stream(pieces).mapToInt(p -> {
            int id = LlamaGgufFixture.PIECES.indexOf(p);
            return id >= 0 ? id : LlamaGgufFixture.PIECES.indexOf(String.format("<0x%02X>", (int) p.charAt(0)));
        }).toArray();
    }

    private static int[] bits(float[] v) {
        int[] b = new int[v.length];
        for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
        return b;
    }

    @Test
    void existingFolderNeedsForceAndLosesOnlyItsOldWeights() throws Exception {
        LlamaConfig cfg = LlamaGgufFixture.config(false);
        Path gguf = dir.resolve("model.gguf"), out = dir.resolve("hf");
        try (Arena arena = Arena.ofConfined()) {
            LlamaGgufFixture.write(gguf, cfg, LlamaGgufFixture.randomWeights(cfg, TestSeeds.random(), arena), GgmlType.F32, 3,
                    GgufFile.DEFAULT_ALIGNMENT, arena);
        }
        Files.createDirectories(out);
        for (String f : List.of("config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "notes.txt")) {
            Files.writeString(out.resolve(f), "old");
        }
        CliRun r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm import-gguf: --out " + out + " already holds a model (config.json); pass --force to overwrite it\n",
                r.err());
        r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString(), "--force");
        assertEquals(0, r.code(), r.err());
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of("config.json", "model.safetensors", "notes.txt", "tokenizer.json", "tokenizer_config.json"),
                    s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(cfg, LlamaConfig.read(out.resolve("config.json")));
        assertEquals("old", Files.readString(out.resolve("notes.txt")), "other files untouched");
    }

    @Test
    void quantisedTensorIsOneSentenceNamingTensorAndType() throws Exception {
        LlamaConfig cfg = LlamaGgufFixture.config(false);
        Path gguf = dir.resolve("q.gguf"), out = dir.resolve("hf");
        try (Arena arena = Arena.ofConfined()) {
            GgufWriter w = LlamaGgufFixture.writer("llama", cfg, LlamaGgufFixture.randomWeights(cfg, TestSeeds.random(), arena),
                    GgmlType.F32, arena);
            // Q8_0: blocks of 32 values in 34 bytes (an f16 scale and 32 int8)
            byte[] q8 = new byte[48 * 32 / 32 * 34];
            TestSeeds.random().nextBytes(q8);
            w.replaceTensor("blk.1.ffn_down.weight", GgmlType.Q8_0, q8).write(gguf, 3, GgufFile.DEFAULT_ALIGNMENT);
        }
        CliRun r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm import-gguf: " + gguf + ": tensor blk.1.ffn_down.weight is stored as Q8_0, and only F32, F16"
                + " and BF16 tensors can be imported (quantised GGUF files cannot)\n", r.err());
        assertFalse(Files.exists(out), "nothing written");
    }

    @Test
    void otherArchitectureIsOneSentenceAndLeavesOutAlone() throws Exception {
        LlamaConfig cfg = LlamaGgufFixture.config(false);
        Path gguf = dir.resolve("falcon.gguf"), out = dir.resolve("existing");
        Files.createDirectories(out);
        Files.writeString(out.resolve("notes.txt"), "keep me");
        try (Arena arena = Arena.ofConfined()) {
            LlamaGgufFixture.writer("falcon", cfg, LlamaGgufFixture.randomWeights(cfg, TestSeeds.random(), arena), GgmlType.F32, arena)
                    .write(gguf, 3, GgufFile.DEFAULT_ALIGNMENT);
        }
        CliRun r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString());
        assertEquals(2, r.code());
        assertEquals("gpt4llm import-gguf: " + gguf + ": architecture \"falcon\" is not supported; only LLaMA models"
                + " (general.architecture = llama) can be imported\n", r.err());
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(List.of("notes.txt"), s.map(p -> p.getFileName().toString()).toList());
        }
    }

    @Test
    void readsEveryMetadataTypeAndRejectsBrokenFiles() throws Exception {
        Path file = dir.resolve("all.gguf");
        List<Object> nested = List.of(new GgufWriter.Array(GgufWriter.I16, List.of(-3, 4)),
                new GgufWriter.Array(GgufWriter.I16, List.of()));
        new GgufWriter()
                .put("t.u8", GgufWriter.U8, 200).put("t.i8", GgufWriter.I8, -100)
                .put("t.u16", GgufWriter.U16, 60000).put("t.i16", GgufWriter.I16, -30000)
                .put("t.u32", GgufWriter.U32, 4000000000L).put("t.i32", GgufWriter.I32, -2000000000)
                .put("t.f32", GgufWriter.F32, 0.1f).put("t.bool", GgufWriter.BOOL, true)
                .put("t.string", GgufWriter.STRING, "h\u00e9llo \u2581")
                .put("t.u64", GgufWriter.U64, Long.MAX_VALUE).put("t.i64", GgufWriter.I64, Long.MIN_VALUE)
                .put("t.f64", GgufWriter.F64, Math.PI)
                .put("t.nested", GgufWriter.ARRAY, new GgufWriter.Array(GgufWriter.ARRAY, nested))
                .put("t.bools", GgufWriter.ARRAY, new GgufWriter.Array(GgufWriter.BOOL, List.of(false, true)))
                .tensor("x", GgmlType.F32, new long[] {3, 2}, GgufWriter.f32(new float[] {1, 2, 3, 4, 5, 6}))
                .write(file, 3, GgufFile.DEFAULT_ALIGNMENT);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile g = GgufFile.open(file, arena);
            Map<String, Object> m = g.metadata();
            assertEquals(List.of(200L, -100L, 60000L, -30000L, 4000000000L, -2000000000L, 0.1f, true, "h\u00e9llo \u2581",
                    Long.MAX_VALUE, Long.MIN_VALUE, Math.PI, List.of(List.of(-3L, 4L), List.of()), List.of(false, true)),
                    List.copyOf(m.values()));
            assertEquals(3, g.version());
            Tensor x = g.toF32("x", arena);
            assertArrayEquals(new long[] {2, 3}, x.shape(), "ne [3, 2] is 2 rows of 3");
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, x.toFloatArray());
            CheckpointException e = assertThrows(CheckpointException.class, () -> g.string("t.u8"));
            assertEquals(file + ": metadata key t.u8 is an integer, not a string", e.getMessage());
        }
        byte[] bytes = Files.readAllBytes(file);
        Path truncated = dir.resolve("truncated.gguf");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 5));
        assertOpenFails(truncated, truncated + ": tensor x F32[2, 3] at offset 0 runs past the end of the file ("
                + (bytes.length - 5) + " bytes); the file is truncated");
        Files.write(truncated, Arrays.copyOf(bytes, 60));
        assertOpenFails(truncated, truncated + ": claims 1 tensors and 14 metadata entries, more than its 60 bytes can hold");
        Files.write(truncated, Arrays.copyOf(bytes, 250));
        try (Arena arena = Arena.ofConfined()) {
            String message = assertThrows(CheckpointException.class, () -> GgufFile.open(truncated, arena)).getMessage();
            assertTrue(message.startsWith(truncated + ": ") && message.contains(" the file is truncated"), message);
        }
        Path notGguf = dir.resolve("model.safetensors");
        Files.writeString(notGguf, "{\"not\": \"gguf\"}");
        assertOpenFails(notGguf, notGguf + ": is not a GGUF file (it does not start with \"GGUF\")");
        byte[] v1 = bytes.clone();
        v1[4] = 1;
        Files.write(truncated, v1);
        assertOpenFails(truncated, truncated + ": is GGUF version 1, and version 1 files are not supported; convert the"
                + " model again with a current llama.cpp");
    }

    private static void assertOpenFails(Path file, String message) {
        try (Arena arena = Arena.ofConfined()) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> GgufFile.open(file, arena));
            assertEquals(message, e.getMessage());
        }
    }

    @Test
    void rotaryLayoutInterleavesTheHalvesOfEachHead() {
        int heads = 3, headDim = 6, cols = 2;
        Random rng = new Random(TestSeeds.next());
        try (Arena arena = Arena.ofConfined()) {
            Tensor hf = Tensor.of(arena, Numerics.normal(rng, heads * headDim * cols, 1f), heads * headDim, cols);
            Tensor cpp = RotaryLayout.toLlamaCpp(hf, heads, arena);
            // llama.cpp rotates adjacent pairs: its pair (2i, 2i+1) of head h is HF's pair (i, i + headDim/2)
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < headDim / 2; i++) {
                    for (int c = 0; c < cols; c++) {
                        int base = h * headDim;
                        assertEquals(hf.getFloat((long) (base + i) * cols + c), cpp.getFloat((long) (base + 2 * i) * cols + c));
                        assertEquals(hf.getFloat((long) (base + i + headDim / 2) * cols + c),
                                cpp.getFloat((long) (base + 2 * i + 1) * cols + c));
                    }
                }
            }
            assertArrayEquals(hf.toFloatArray(), RotaryLayout.toHf(cpp, heads, arena).toFloatArray());
        }
    }
}
