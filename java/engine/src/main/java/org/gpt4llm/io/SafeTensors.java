package org.gpt4llm.io;

import com.fasterxml.jackson.core.JsonGenerator;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.gpt4llm.datagen.files.FileErrors;
import org.gpt4llm.tensor.Tensor;

/**
 * A Hugging Face safetensors file, memory-mapped read-only into an {@link Arena}; the mapping lives
 * as long as that arena. The header is fully validated by {@link #open} (see
 * {@link SafeTensorsHeader}), so every tensor handed out lies inside the file.
 *
 * <p>Tensors are read-only views of the mapped bytes in their file dtype. A tensor whose bytes are
 * not aligned to its element size in memory (possible in files from writers that do not pad) is
 * copied once into an aligned segment of the same arena. Tensor data is little-endian, as the format
 * requires and as every platform this program runs on is.
 */
public final class SafeTensors {
    private final Path file;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, TensorInfo> infos;
    private final Map<String, String> metadata;
    private final Map<String, Tensor> views = new ConcurrentHashMap<>();

    private SafeTensors(Path file, Arena arena, MemorySegment data, SafeTensorsHeader.Parsed header) {
        this.file = file;
        this.arena = arena;
        this.data = data;
        Map<String, TensorInfo> byName = new LinkedHashMap<>();
        for (TensorInfo t : header.tensors()) byName.put(t.name(), t);
        this.infos = Collections.unmodifiableMap(byName);
        this.metadata = header.metadata();
    }

    /** Maps {@code file} into {@code arena} and validates its header; any problem is a {@link CheckpointException}. */
    public static SafeTensors open(Path file, Arena arena) {
        if (Files.isDirectory(file)) {
            throw new CheckpointException(file + ": is a directory, not a safetensors file");
        }
        MemorySegment bytes;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            // Too short to hold the length field: let the parser say so without mapping anything.
            bytes = size < 8 ? MemorySegment.ofArray(new byte[(int) size])
                    : ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file + ": no such file", e);
        } catch (AccessDeniedException e) {
            throw new CheckpointException(file + ": permission denied", e);
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot be read (" + FileErrors.reason(e) + ")", e);
        }
        SafeTensorsHeader.Parsed header = SafeTensorsHeader.parse(file.toString(), bytes);
        return new SafeTensors(file, arena, bytes.asSlice(header.dataStart()), header);
    }

    public Path file() {
        return file;
    }

    /** Tensor names in the order their data lies in the file. */
    public List<String> names() {
        return List.copyOf(infos.keySet());
    }

    public boolean contains(String name) {
        return infos.containsKey(name);
    }

    public int size() {
        return infos.size();
    }

    /** The header's {@code __metadata__} (empty when the file has none). */
    public Map<String, String> metadata() {
        return metadata;
    }

    public TensorInfo info(String name) {
        TensorInfo t = infos.get(name);
        if (t == null) {
            throw new CheckpointException(file + ": has no tensor named " + name);
        }
        return t;
    }

    /** A read-only tensor over the file's bytes of {@code name}, in the file's dtype. */
    public Tensor tensor(String name) {
        TensorInfo t = info(name);
        return views.computeIfAbsent(name, k -> {
            MemorySegment seg = data.asSlice(t.begin(), t.byteSize());
            if (seg.address() % t.dtype().bytes() != 0) {
                seg = arena.allocate(t.byteSize(), 64).copyFrom(seg).asReadOnly();
            }
            return Tensor.wrap(seg, t.dtype(), t.shape());
        });
    }

    /** All tensors in file order. */
    public LinkedHashMap<String, Tensor> tensors() {
        LinkedHashMap<String, Tensor> out = new LinkedHashMap<>();
        for (String name : infos.keySet()) out.put(name, tensor(name));
        return out;
    }

    // ---------------------------------------------------------------------------------------------
    // Writing

    /**
     * Writes {@code tensors} (their iteration order is the order of their data in the file) and
     * {@code metadata} (may be null or empty) to {@code file} atomically: a temp file in the same
     * directory, forced to disk, then renamed over {@code file}. The same input always gives the same
     * bytes. Tensors mapped from {@code file} itself may be written back to it.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
        try {
            AtomicFiles.commit(writeTemp(file, tensors, metadata), file);
            AtomicFiles.syncDirectory(AtomicFiles.parentOf(file));
        } catch (IOException e) {
            throw new CheckpointException(file + ": cannot be written (" + FileErrors.reason(e) + ")", e);
        }
    }

    /** The first half of {@link #write}: the complete, synced temp file, not yet renamed. */
    static Path writeTemp(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        List<Map.Entry<String, Tensor>> entries = new ArrayList<>(tensors.entrySet());
        byte[] header = header(file, entries, metadata);
        return AtomicFiles.writeTemp(file, out -> {
            ByteBuffer head = ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(header.length).put(header).flip();
            AtomicFiles.writeFully(out, head);
            ByteBuffer staging = null;
            for (Map.Entry<String, Tensor> e : entries) {
                MemorySegment seg = e.getValue().data();
                long chunk = 1L << 30;
                for (long off = 0; off < seg.byteSize(); off += chunk) {
                    MemorySegment part = seg.asSlice(off, Math.min(chunk, seg.byteSize() - off));
                    if (part.isNative()) {
                        AtomicFiles.writeFully(out, part.asByteBuffer());
                    } else { // a heap segment over a non-byte array has no ByteBuffer view: stage it
                        if (staging == null) staging = ByteBuffer.allocateDirect(1 << 20);
                        for (long p = 0; p < part.byteSize(); p += staging.capacity()) {
                            int len = (int) Math.min(staging.capacity(), part.byteSize() - p);
                            staging.clear().limit(len);
                            MemorySegment.ofBuffer(staging).copyFrom(part.asSlice(p, len));
                            AtomicFiles.writeFully(out, staging);
                        }
                    }
                }
            }
        });
    }

    /**
     * The header JSON, compact as the reference writer makes it: {@code __metadata__} first with its
     * keys sorted, then the tensors in order; padded with spaces to a multiple of 8 bytes so that the
     * data starts 8-byte aligned.
     */
    private static byte[] header(Path file, List<Map.Entry<String, Tensor>> entries, Map<String, String> metadata)
            throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try (JsonGenerator g = SafeTensorsHeader.JSON.getFactory().createGenerator(buf)) {
            g.writeStartObject();
            if (metadata != null && !metadata.isEmpty()) {
                g.writeObjectFieldStart("__metadata__");
                for (Map.Entry<String, String> m : new TreeMap<>(metadata).entrySet()) {
                    if (m.getValue() == null) {
                        throw new CheckpointException(file + ": metadata key \"" + m.getKey() + "\" has no value");
                    }
                    g.writeStringField(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Map.Entry<String, Tensor> e : entries) {
                String name = e.getKey();
                Tensor t = e.getValue();
                if (name == null || name.equals("__metadata__") || t == null) {
                    throw new CheckpointException(file + ": cannot write a tensor named " + name
                            + (t == null ? " that is null" : ", the name is reserved"));
                }
                g.writeObjectFieldStart(name);
                g.writeStringField("dtype", t.dtype().name());
                g.writeArrayFieldStart("shape");
                for (long d : t.shape()) g.writeNumber(d);
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                offset += t.byteSize();
                g.writeNumber(offset);
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndObject();
        }
        int pad = (8 - buf.size() % 8) % 8;
        byte[] spaces = new byte[pad];
        Arrays.fill(spaces, (byte) ' ');
        buf.write(spaces);
        return buf.toByteArray();
    }

    @Override
    public String toString() {
        return file + " (" + infos.size() + " tensors)";
    }
}
