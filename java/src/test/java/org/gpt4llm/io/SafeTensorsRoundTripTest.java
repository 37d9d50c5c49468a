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
import org.gpt4llm.testing.Numerics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsRoundTripTest {
    @TempDir
    Path dir;

    private final long seed = Numerics.freshSeed();
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
