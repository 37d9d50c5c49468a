package org.gpt4llm.io;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.gpt4llm.tensor.DType;

/**
 * Parses and validates a safetensors header, following the rules of the reference implementation
 * (huggingface/safetensors {@code Metadata::validate} and {@code read_metadata}):
 *
 * <pre>
 *   bytes [0, 8)        N, the header length, little-endian u64 (at most 100 000 000)
 *   bytes [8, 8+N)      UTF-8 JSON object: {"__metadata__": {str: str}?,
 *                                            name: {"dtype": D, "shape": [..], "data_offsets": [b, e]}, ...}
 *   bytes [8+N, size)   tensor data; data_offsets are relative to byte 8+N
 * </pre>
 *
 * Every tensor's {@code e - b} must equal numel(shape) × size(D), and the ranges sorted by offset
 * must tile the data exactly: no overlaps, no holes, nothing after the last tensor. A file that
 * passes cannot make a reader touch a byte outside the file.
 */
final class SafeTensorsHeader {
    static final long MAX_HEADER_BYTES = 100_000_000L;

    /** Every dtype string the format defines; the ones {@link DType} lacks are reported as unsupported. */
    private static final Set<String> FORMAT_DTYPES = Set.of("BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8",
            "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64",
            "U64", "C64");

    /** Strict JSON: duplicate keys and anything after the top-level value are errors. */
    static final ObjectMapper JSON = JsonMapper.builder(JsonFactory.builder()
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
            .build();

    private static final ValueLayout.OfLong U64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The validated header: tensors sorted by their position in the file, and the free-form metadata. */
    record Parsed(List<TensorInfo> tensors, Map<String, String> metadata, long dataStart) {
    }

    private SafeTensorsHeader() {
    }

    /** Validates the header of {@code file}, whose whole content is {@code bytes}. */
    static Parsed parse(String file, MemorySegment bytes) {
        long size = bytes.byteSize();
        if (size < 8) {
            throw fail(file, "the file is " + size + " bytes long, too short for a safetensors file, which starts with an 8-byte header length");
        }
        long n = bytes.get(U64_LE, 0);
        if (Long.compareUnsigned(n, MAX_HEADER_BYTES) > 0) {
            throw fail(file, "the file declares a header of " + Long.toUnsignedString(n) + " bytes, more than the "
                    + MAX_HEADER_BYTES + " a safetensors header may have (the file is corrupt or not a safetensors file)");
        }
        if (n > size - 8) {
            throw fail(file, "the file declares a header of " + n + " bytes but only " + (size - 8)
                    + " bytes follow the length field (the file is truncated or not a safetensors file)");
        }
        JsonNode root = readJson(file, bytes.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE));
        long dataStart = 8 + n;
        long dataSize = size - dataStart;

        Map<String, String> metadata = Map.of();
        List<TensorInfo> tensors = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            if (e.getKey().equals("__metadata__")) {
                metadata = readMetadata(file, e.getValue());
            } else {
                tensors.add(readTensor(file, e.getKey(), e.getValue(), dataSize));
            }
        }
        // The ranges, in file order, must tile [0, dataSize) exactly (stable sort keeps header order on ties).
        tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long pos = 0;
        TensorInfo prev = null;
        for (TensorInfo t : tensors) {
            if (t.begin() < pos) {
                throw fail(file, "tensors " + prev.name() + " and " + t.name() + " overlap: their data_offsets are ["
                        + prev.begin() + ", " + prev.end() + "] and [" + t.begin() + ", " + t.end() + "]");
            }
            if (t.begin() > pos) {
                throw fail(file, prev == null
                        ? "the first tensor, " + t.name() + ", starts at byte " + t.begin()
                                + " of the data instead of 0, and safetensors files may not leave unused bytes"
                        : "bytes [" + pos + ", " + t.begin() + ") of the data between tensors " + prev.name() + " and "
                                + t.name() + " belong to no tensor, and safetensors files may not leave holes");
            }
            pos = t.end();
            prev = t;
        }
        if (pos != dataSize) {
            throw fail(file, "the file has " + (dataSize - pos) + " bytes after the end of the last tensor's data"
                    + " that belong to no tensor, and safetensors files may not leave unused bytes");
        }
        return new Parsed(Collections.unmodifiableList(tensors), metadata, dataStart);
    }

    private static JsonNode readJson(String file, byte[] raw) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException e) {
            throw fail(file, "the header is not valid UTF-8");
        }
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JacksonException e) {
            throw fail(file, "the header is not valid JSON (" + describe(e) + ")");
        }
        if (root == null || root.isMissingNode()) {
            throw fail(file, "the header is empty where a JSON object should be");
        }
        if (!root.isObject()) {
            throw fail(file, "the header is a JSON " + kind(root) + " instead of an object");
        }
        return root;
    }

    private static Map<String, String> readMetadata(String file, JsonNode node) {
        if (node.isNull()) return Map.of();
        if (!node.isObject()) {
            throw fail(file, "the header's __metadata__ is a JSON " + kind(node) + " instead of an object of strings");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!e.getValue().isTextual()) {
                throw fail(file, "the header's __metadata__ key \"" + e.getKey() + "\" has a JSON "
                        + kind(e.getValue()) + " value instead of a string");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        return Collections.unmodifiableMap(out);
    }

    private static TensorInfo readTensor(String file, String name, JsonNode node, long dataSize) {
        String what = "tensor " + name;
        if (!node.isObject()) {
            throw fail(file, "the header entry for " + what + " is a JSON " + kind(node) + " instead of an object");
        }
        JsonNode dt = node.get("dtype");
        JsonNode sh = node.get("shape");
        JsonNode off = node.get("data_offsets");
        if (dt == null || sh == null || off == null) {
            String missing = dt == null ? "dtype" : sh == null ? "shape" : "data_offsets";
            throw fail(file, what + " has no " + missing);
        }
        if (!dt.isTextual()) {
            throw fail(file, what + " has a dtype that is a JSON " + kind(dt) + " instead of a string");
        }
        DType dtype = DType.fromSafetensors(dt.textValue());
        if (dtype == null) {
            throw fail(file, FORMAT_DTYPES.contains(dt.textValue())
                    ? what + " has dtype " + dt.textValue() + ", which this program cannot load (it reads "
                            + Arrays.toString(DType.values()) + ")"
                    : what + " has unknown dtype \"" + dt.textValue() + "\"");
        }
        long[] shape = naturals(sh);
        if (shape == null) {
            throw fail(file, what + " has shape " + compact(sh) + ", which is not a list of non-negative integers");
        }
        long[] offsets = naturals(off);
        if (offsets == null || offsets.length != 2) {
            throw fail(file, what + " has data_offsets " + compact(off) + ", which is not a pair of non-negative integers");
        }
        long begin = offsets[0];
        long end = offsets[1];
        String range = "[" + begin + ", " + end + "]";
        if (begin > end) {
            throw fail(file, what + " has data_offsets " + range + " whose begin is past its end");
        }
        long bytes;
        try {
            long numel = 1;
            for (long d : shape) numel = Math.multiplyExact(numel, d);
            bytes = Math.multiplyExact(numel, dtype.bytes());
        } catch (ArithmeticException e) {
            throw fail(file, what + " has shape " + Arrays.toString(shape) + ", whose byte size overflows");
        }
        if (end - begin != bytes) {
            throw fail(file, what + " has shape " + Arrays.toString(shape) + " (" + bytes + " bytes as " + dtype
                    + ") but its data_offsets span " + (end - begin) + " bytes");
        }
        if (end > dataSize) {
            throw fail(file, what + " has data_offsets " + range + " but the file holds only " + dataSize
                    + " bytes of tensor data (it is truncated or corrupt)");
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** The elements of a JSON array of integers in [0, Long.MAX_VALUE], or null when it is not one. */
    private static long[] naturals(JsonNode node) {
        if (!node.isArray()) return null;
        long[] out = new long[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0) return null;
            out[i] = v.longValue();
        }
        return out;
    }

    private static String compact(JsonNode node) {
        String s = node.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    private static String kind(JsonNode node) {
        return node.getNodeType().name().toLowerCase(Locale.ROOT);
    }

    /** Jackson's message without its source excerpt, on one line, with the position. */
    static String describe(JacksonException e) {
        String msg = e.getOriginalMessage().replaceAll("\\s+", " ").trim();
        if (msg.startsWith("Trailing token")) msg = "more content follows the top-level value";
        JsonLocation at = e.getLocation();
        return at == null ? msg : msg + " at line " + at.getLineNr() + ", column " + at.getColumnNr();
    }

    static CheckpointException fail(String file, String sentence) {
        return new CheckpointException(file + ": " + sentence);
    }
}
