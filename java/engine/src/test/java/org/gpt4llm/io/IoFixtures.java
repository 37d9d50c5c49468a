package org.gpt4llm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.junit.jupiter.api.function.Executable;

/** Random tensors and hand-built safetensors files for the io tests. */
final class IoFixtures {
    private IoFixtures() {
    }

    /** A tensor of random bytes (never all zero for a non-empty tensor). */
    static Tensor random(Arena arena, Random rng, DType dtype, long... shape) {
        Tensor t = Tensor.allocate(arena, dtype, shape);
        byte[] b = new byte[(int) t.byteSize()];
        rng.nextBytes(b);
        if (b.length > 0) b[0] |= 1;
        MemorySegment.copy(MemorySegment.ofArray(b), 0, t.data(), 0, b.length);
        return t;
    }

    static void assertSameTensor(Tensor expected, Tensor actual, String what) {
        assertEquals(expected.dtype(), actual.dtype(), what + " dtype");
        assertEquals(Arrays.toString(expected.shape()), Arrays.toString(actual.shape()), what + " shape");
        assertEquals(-1, expected.data().mismatch(actual.data()), what + " bytes");
    }

    static void assertSameTensors(Map<String, Tensor> expected, Map<String, Tensor> actual, String what) {
        assertEquals(expected.keySet().stream().toList(), actual.keySet().stream().toList(), what + " names in order");
        for (String name : expected.keySet()) assertSameTensor(expected.get(name), actual.get(name), what + " " + name);
    }

    /** A file with the given declared header length, header bytes and data bytes, as they are. */
    static Path raw(Path file, long declaredLength, byte[] header, byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(declaredLength).array());
        out.write(header);
        out.write(data);
        Files.write(file, out.toByteArray());
        return file;
    }

    /** A file whose header is {@code json} (correct length) followed by {@code dataBytes} random bytes. */
    static Path raw(Path file, String json, int dataBytes, Random rng) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        byte[] d = new byte[dataBytes];
        rng.nextBytes(d);
        return raw(file, h.length, h, d);
    }

    /** Runs {@code open} expecting a CheckpointException whose message names all of {@code names}. */
    static CheckpointException assertRejected(Executable open, String... names) {
        CheckpointException e = assertThrows(CheckpointException.class, open);
        for (String n : names) {
            assertTrue(e.getMessage().contains(n), "message should name " + n + ": " + e.getMessage());
        }
        assertTrue(!e.getMessage().contains("\n"), "message is one line: " + e.getMessage());
        return e;
    }
}
