package org.gpt4llm.io;

import static org.gpt4llm.io.IoFixtures.assertRejected;
import static org.gpt4llm.io.IoFixtures.assertSameTensor;
import static org.gpt4llm.io.IoFixtures.assertSameTensors;
import static org.gpt4llm.io.IoFixtures.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsRoundTripTest {
    @TempDir
    Path dir;

    private final long seed = TestSeeds.next();
    private final Random rng = new Random(seed);

    /** Odd shapes of every dtype, a 0-dim scalar, empty tensors, and dtypes that leave later tensors unaligned. */
    private LinkedHashMap<String, Tensor> mixed(Arena arena) {
        LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", random(arena, rng, DType.F32, 3, 5, 7));
        m.put("half.odd", random(arena, rng, DType.F16, 13));
        m.put("after.odd.f32", random(arena, rng, DType.F32, 3)); // starts at an offset of 2 mod 4
        m.put("bf16.block", random(arena, rng, DType.BF16, 2, 3, 1, 5));
        m.put("ids", random(arena, rng, DType.I32, 11, 3));
        m.put("scalar", random(arena, rng, DType.F32));
        m.put("empty", Tensor.allocate(arena, DType.F32, 0));
        m.put("empty.bf16", Tensor.allocate(arena, DType.BF16, 4, 0, 2));
        m.put("bytes", random(arena, rng, DType.U8, 7));
        m.put("longs", random(arena, rng, DType.I64, 3));
        m.put("näme with ünicode", random(arena, rng, DType.F16, 1, 1));
        return m;
    }

    @Test
    void writeReadWriteIsBitIdentical() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> tensors = mixed(arena);
            Map<String, String> meta = new LinkedHashMap<>();
            meta.put("format", "pt");
            meta.put("a.note", "sëed " + seed);
            Path a = dir.resolve("a.safetensors");
            SafeTensors.write(a, tensors, meta);

            SafeTensors st = SafeTensors.open(a, arena);
            assertEquals(List.copyOf(tensors.keySet()), st.names(), "seed " + seed);
            assertEquals(meta, st.metadata());
            for (String name : tensors.keySet()) {
                TensorInfo info = st.info(name);
                assertEquals(tensors.get(name).dtype(), info.dtype());
                assertArrayEquals(tensors.get(name).shape(), info.shape());
                assertEquals(tensors.get(name).byteSize(), info.end() - info.begin());
            }
            assertSameTensors(tensors, st.tensors(), "seed " + seed);
            assertEquals(0, st.tensor("scalar").rank());
            assertEquals(0, st.tensor("empty.bf16").numel());

            // Element access works on every tensor, including the one whose file offset is unaligned.
            Tensor odd = st.tensor("after.odd.f32");
            for (int i = 0; i < 3; i++) {
                assertEquals(Float.floatToRawIntBits(tensors.get("after.odd.f32").getFloat(i)),
                        Float.floatToRawIntBits(odd.getFloat(i)));
            }
            assertArrayEquals(tensors.get("ids").toIntArray(), st.tensor("ids").toIntArray());

            Path b = dir.resolve("b.safetensors");
            SafeTensors.write(b, st.tensors(), st.metadata());
            assertEquals(-1L, Files.mismatch(a, b), "rewriting what was read gives the same bytes");
            Path c = dir.resolve("c.safetensors");
            SafeTensors.write(c, tensors, meta);
            assertEquals(-1L, Files.mismatch(a, c), "writing the same tensors twice gives the same bytes");
        }
    }

    @Test
    void headerIsCompactPaddedAndMatchesTheReferenceLayout() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Tensor w = random(arena, rng, DType.F32, 2);
            Tensor h = random(arena, rng, DType.BF16, 3);
            LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
            m.put("w", w);
            m.put("h", h);
            Path f = dir.resolve("m.safetensors");
            SafeTensors.write(f, m, Map.of("format", "pt"));
            byte[] bytes = Files.readAllBytes(f);
            long n = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
            assertEquals(0, n % 8, "header padded to 8 bytes");
            String header = new String(bytes, 8, (int) n, StandardCharsets.UTF_8);
            String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                    + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    + "\"h\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]}}";
            assertEquals(json + " ".repeat((int) n - json.length()), header);
            assertEquals(8 + n + 14, bytes.length);
        }
    }

    @Test
    void readsTensorsInDataOrderWhateverTheHeaderOrder() throws IOException {
        String json = "{\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                + "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                + "\"__metadata__\":{\"k\":\"v\"}}";
        Path f = IoFixtures.raw(dir.resolve("order.safetensors"), json, 12, rng);
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.open(f, arena);
            assertEquals(List.of("a", "z", "b"), st.names());
            assertEquals(Map.of("k", "v"), st.metadata());
            assertEquals(new TensorInfo("b", DType.I32, new long[] {2}, 4, 12), st.info("b"));
            // The header length (odd) leaves the data unaligned: elements still read correctly.
            byte[] bytes = Files.readAllBytes(f);
            int data = 8 + json.getBytes(StandardCharsets.UTF_8).length;
            ByteBuffer bb = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(bb.getInt(data + 4), st.tensor("b").getInt(0));
            assertEquals(bb.getInt(data + 8), st.tensor("b").getInt(1));
            assertEquals(Float.intBitsToFloat(bb.getInt(data)), st.tensor("a").getFloat(0));
        }
    }

    /**
     * A file written by huggingface/safetensors 0.8.0 (numpy, random values): it reads with the
     * dtypes, shapes and order HF gave it, and writing its tensors back reproduces it byte for byte.
     */
    @Test
    void fileWrittenByTheReferenceImplementationRoundTripsExactly() throws IOException, java.net.URISyntaxException {
        Path hf = Path.of(getClass().getResource("written-by-hf-safetensors-0.8.0.safetensors").toURI());
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.open(hf, arena);
            assertEquals(List.of("l", "b.weight", "empty", "scalar", "ids", "a.half", "u"), st.names());
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertEquals(new TensorInfo("b.weight", DType.F32, new long[] {3, 5}, 24, 84), st.info("b.weight"));
            assertEquals(new TensorInfo("empty", DType.F32, new long[] {0, 4}, 84, 84), st.info("empty"));
            assertEquals(DType.I64, st.info("l").dtype());
            assertEquals(DType.F16, st.info("a.half").dtype());
            assertEquals(DType.U8, st.info("u").dtype());
            assertEquals(3.5f, st.tensor("scalar").getFloat(0));
            Path ours = dir.resolve("ours.safetensors");
            SafeTensors.write(ours, st.tensors(), st.metadata());
            assertEquals(-1L, Files.mismatch(hf, ours));
        }
    }

    /** What the reference reader accepts, we accept: unknown entry fields, null metadata, whitespace around the JSON. */
    @Test
    void acceptsWhatTheReferenceAccepts() throws IOException {
        String json = " {\"__metadata__\":null,\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"note\":{\"x\":1}}}  ";
        Path f = IoFixtures.raw(dir.resolve("lenient.safetensors"), json, 4, rng);
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.open(f, arena);
            assertEquals(List.of("a"), st.names());
            assertTrue(st.metadata().isEmpty());
        }
    }

    @Test
    void emptyFileOfTensorsRoundTrips() throws IOException {
        Path f = dir.resolve("none.safetensors");
        SafeTensors.write(f, Map.of(), null);
        assertEquals(16, Files.size(f), "8-byte length + \"{}\" padded to 8");
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors st = SafeTensors.open(f, arena);
            assertTrue(st.names().isEmpty());
            assertTrue(st.metadata().isEmpty());
        }
    }

    @Test
    void rewritingAFileFromItsOwnMappingKeepsBothValid() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> tensors = mixed(arena);
            Path f = dir.resolve("self.safetensors");
            SafeTensors.write(f, tensors, Map.of("format", "pt"));
            byte[] before = Files.readAllBytes(f);
            SafeTensors st = SafeTensors.open(f, arena);
            LinkedHashMap<String, Tensor> mapped = st.tensors();
            SafeTensors.write(f, mapped, st.metadata());
            assertArrayEquals(before, Files.readAllBytes(f));
            assertSameTensors(tensors, mapped, "old mapping after the rename, seed " + seed);
            try (var files = Files.list(dir)) {
                assertEquals(List.of("self.safetensors"), files.map(p -> p.getFileName().toString()).toList(),
                        "no temp file left behind");
            }
        }
    }

    @Test
    void aFailedWriteLeavesTheOldFileAndNoTempFile() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path f = dir.resolve("keep.safetensors");
            SafeTensors.write(f, Map.of("w", random(arena, rng, DType.F32, 4)), null);
            byte[] before = Files.readAllBytes(f);
            Tensor gone;
            try (Arena shortLived = Arena.ofConfined()) {
                gone = random(shortLived, rng, DType.F32, 1000);
            }
            LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
            m.put("w", random(arena, rng, DType.F32, 4));
            m.put("gone", gone);
            org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> SafeTensors.write(f, m, null));
            assertArrayEquals(before, Files.readAllBytes(f));
            try (var files = Files.list(dir)) {
                assertEquals(List.of("keep.safetensors"), files.map(p -> p.getFileName().toString()).toList());
            }
        }
    }

    @Test
    void writtenFilesGetTheUsualPermissions() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(dir.getFileSystem().supportedFileAttributeViews().contains("posix"),
                "needs a POSIX file system");
        Path plain = Files.writeString(dir.resolve("plain.txt"), "x");
        Path f = dir.resolve("perm.safetensors");
        SafeTensors.write(f, Map.of(), Map.of("format", "pt"));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(f), "umask honoured");
    }

    @Test
    void missingTensorAndFileAreNamed() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            Path f = dir.resolve("one.safetensors");
            SafeTensors.write(f, Map.of("x", random(arena, rng, DType.F32, 2)), null);
            SafeTensors st = SafeTensors.open(f, arena);
            assertRejected(() -> st.tensor("model.norm.weight"), "one.safetensors", "model.norm.weight");
            assertRejected(() -> st.info("nope"), "one.safetensors", "nope");
            assertRejected(() -> SafeTensors.open(dir.resolve("absent.safetensors"), arena), "absent.safetensors");
            assertRejected(() -> SafeTensors.open(dir, arena), dir.toString());
            assertSameTensor(st.tensor("x"), st.tensor("x"), "same view twice");
            assertTrue(Arrays.asList(st.names().toArray()).contains("x"));
        }
    }
}
