package org.gpt4llm.io;

import static org.gpt4llm.io.IoFixtures.assertRejected;
import static org.gpt4llm.io.IoFixtures.random;
import static org.gpt4llm.io.IoFixtures.raw;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Random;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every malformed file is refused by open() with one sentence naming the file (and the tensor). */
class SafeTensorsBadFileTest {
    @TempDir
    Path dir;

    private final long seed = TestSeeds.next();
    private final Random rng = new Random(seed);

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    private CheckpointException rejected(String json, int dataBytes, String... names) throws IOException {
        Path f = raw(dir.resolve("bad.safetensors"), json, dataBytes, rng);
        String[] all = Arrays.copyOf(names, names.length + 1);
        all[names.length] = "bad.safetensors";
        try (Arena arena = Arena.ofConfined()) {
            return assertRejected(() -> SafeTensors.open(f, arena), all);
        }
    }

    private Path goodFile() {
        try (Arena arena = Arena.ofConfined()) {
            LinkedHashMap<String, Tensor> m = new LinkedHashMap<>();
            m.put("model.layers.0.mlp.up_proj.weight", random(arena, rng, DType.F32, 6, 5));
            m.put("model.norm.weight", random(arena, rng, DType.BF16, 9));
            Path f = dir.resolve("good.safetensors");
            SafeTensors.write(f, m, java.util.Map.of("format", "pt"));
            return f;
        }
    }

    @Test
    void truncatedFilesAreRefusedAtEveryLength() throws IOException {
        byte[] good = Files.readAllBytes(goodFile());
        Path f = dir.resolve("model-00001-of-00002.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            for (int len = 0; len < good.length; len++) {
                Files.write(f, Arrays.copyOf(good, len));
                assertRejected(() -> SafeTensors.open(f, arena), "model-00001-of-00002.safetensors");
            }
            Files.write(f, good);
            assertEquals(2, SafeTensors.open(f, arena).size());
        }
    }

    @Test
    void truncatedDataNamesTheTensorThatFallsOff() throws IOException {
        byte[] good = Files.readAllBytes(goodFile());
        Path f = dir.resolve("cut.safetensors");
        Files.write(f, Arrays.copyOf(good, good.length - 3));
        try (Arena arena = Arena.ofConfined()) {
            CheckpointException e = assertRejected(() -> SafeTensors.open(f, arena), "cut.safetensors", "model.norm.weight");
            assertTrue(e.getMessage().contains("truncated"), e.getMessage());
        }
    }

    @Test
    void headerLengthPastTheEndOfTheFile() throws IOException {
        Path f = raw(dir.resolve("short.safetensors"), 1000, "{}".getBytes(StandardCharsets.UTF_8), new byte[40]);
        Path huge = raw(dir.resolve("huge.safetensors"), 200_000_000L, "{}".getBytes(StandardCharsets.UTF_8), new byte[6]);
        Path neg = raw(dir.resolve("neg.safetensors"), -8L, "{}".getBytes(StandardCharsets.UTF_8), new byte[6]);
        try (Arena arena = Arena.ofConfined()) {
            assertRejected(() -> SafeTensors.open(f, arena), "short.safetensors", "1000");
            assertRejected(() -> SafeTensors.open(huge, arena), "huge.safetensors", "200000000");
            assertRejected(() -> SafeTensors.open(neg, arena), "neg.safetensors", "18446744073709551608");
        }
    }

    @Test
    void headerThatIsNotAJsonObject() throws IOException {
        rejected("{not json}   ", 0);
        rejected("[1, 2, 3]", 0);
        rejected("", 0);
        rejected("{} {}", 0);
        rejected("{" + entry("t", "F32", "[1]", 0, 4) + "," + entry("t", "F32", "[1]", 4, 8) + "}", 8, "t");
        Path f = raw(dir.resolve("bad.safetensors"), 4, new byte[] {'{', (byte) 0xff, (byte) 0xfe, '}'}, new byte[0]);
        try (Arena arena = Arena.ofConfined()) {
            assertRejected(() -> SafeTensors.open(f, arena), "bad.safetensors", "UTF-8");
        }
    }

    @Test
    void unknownAndUnsupportedDtypes() throws IOException {
        rejected("{" + entry("w.q", "F8_E9", "[2]", 0, 2) + "}", 2, "w.q", "F8_E9");
        rejected("{" + entry("w.d", "F64", "[2]", 0, 16) + "}", 16, "w.d", "F64");
        rejected("{\"w.n\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "w.n", "dtype");
    }

    @Test
    void shapeAndByteCountMismatch() throws IOException {
        CheckpointException e = rejected("{" + entry("model.layers.0.mlp.up_proj.weight", "F32", "[64,176]", 0, 45052) + "}",
                45052, "model.layers.0.mlp.up_proj.weight");
        assertTrue(e.getMessage().endsWith("bad.safetensors: tensor model.layers.0.mlp.up_proj.weight has shape [64, 176]"
                + " (45056 bytes as F32) but its data_offsets span 45052 bytes"), e.getMessage());
        rejected("{" + entry("ov", "F32", "[4611686018427387904,4]", 0, 16) + "}", 16, "ov", "overflow");
    }

    @Test
    void offsetsOutOfRange() throws IOException {
        rejected("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("far", "F32", "[4]", 8, 24) + "}", 20, "far");
        rejected("{" + entry("rev", "F32", "[0]", 8, 4) + "}", 8, "rev", "begin");
        rejected("{" + entry("big", "U8", "[1]", Long.MAX_VALUE - 1, Long.MAX_VALUE) + "}", 1, "big");
        rejected("{\"neg\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 0, "neg", "data_offsets");
        rejected("{\"huge\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999999]}}", 1, "huge");
    }

    @Test
    void overlappingHolesAndTrailingBytes() throws IOException {
        rejected("{" + entry("first", "F32", "[2]", 0, 8) + "," + entry("second", "F32", "[2]", 4, 12) + "}", 12,
                "first", "second", "overlap");
        rejected("{" + entry("one", "F32", "[2]", 0, 8) + "," + entry("two", "F32", "[2]", 0, 8) + "}", 8,
                "one", "two", "overlap");
        rejected("{" + entry("inside", "F32", "[0]", 4, 4) + "," + entry("outer", "F32", "[2]", 0, 8) + "}", 8,
                "inside", "outer");
        rejected("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}", 12, "a", "b", "hole");
        rejected("{" + entry("late", "F32", "[1]", 4, 8) + "}", 8, "late");
        rejected("{" + entry("a", "F32", "[1]", 0, 4) + "}", 9, "5 bytes");
    }

    @Test
    void malformedEntries() throws IOException {
        rejected("{\"nodt\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "nodt", "dtype");
        rejected("{\"nosh\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "nosh", "shape");
        rejected("{\"nooff\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "nooff", "data_offsets");
        rejected("{\"negdim\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,4]}}", 4, "negdim", "shape");
        rejected("{\"fdim\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "fdim", "shape");
        rejected("{\"sdim\":{\"dtype\":\"F32\",\"shape\":\"[1]\",\"data_offsets\":[0,4]}}", 4, "sdim", "shape");
        rejected("{\"one\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", 4, "one", "data_offsets");
        rejected("{\"three\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "three");
        rejected("{\"num\":17}", 0, "num");
        rejected("{\"__metadata__\":{\"format\":1}}", 0, "__metadata__", "format");
        rejected("{\"__metadata__\":[\"format\"]}", 0, "__metadata__");
    }

    /** Random damage to a good file: open() either succeeds with in-bounds tensors or throws CheckpointException. */
    @Test
    void randomlyDamagedFilesNeverEscapeTheChecks() throws IOException {
        byte[] good = Files.readAllBytes(goodFile());
        Path f = dir.resolve("fuzz.safetensors");
        for (int iter = 0; iter < 400; iter++) {
            byte[] b = good.clone();
            int flips = 1 + rng.nextInt(4);
            for (int k = 0; k < flips; k++) {
                int at = rng.nextInt(Math.min(b.length, 8 + 160));
                b[at] = rng.nextInt(3) == 0 ? (byte) rng.nextInt(256) : (byte) "0123456789[],:{}\" -".charAt(rng.nextInt(19));
            }
            if (rng.nextInt(4) == 0) b = Arrays.copyOf(b, rng.nextInt(b.length + 8));
            Files.write(f, b);
            try (Arena arena = Arena.ofConfined()) {
                SafeTensors st = SafeTensors.open(f, arena);
                for (String name : st.names()) {
                    Tensor t = st.tensor(name);
                    if (t.numel() > 0) t.getFloat(t.numel() - 1);
                }
            } catch (CheckpointException e) {
                assertTrue(e.getMessage().startsWith(f.toString() + ": "), e.getMessage());
            } catch (RuntimeException e) {
                throw new AssertionError("seed " + seed + " iteration " + iter + ": " + e, e);
            }
        }
    }
}
