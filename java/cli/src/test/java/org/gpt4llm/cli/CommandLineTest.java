package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.OptConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.DType;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CommandLineTest {
    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void doctorReportsTheCpuBackendAndWhyCudaIsMissing() {
        CliRun r = run("doctor");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().matches("(?s).*backend cpu\\s+available.*"), r.out());
        assertTrue(r.out().matches("(?s).*backend cuda-emu\\s+available.*"), r.out());
        assertTrue(r.out().contains("blas") && r.out().contains("OpenBLAS"), r.out());
        assertTrue(r.out().matches("(?s).*\\ncuda\\s+\\S.*"), r.out());
        // the NCCL it found, with its version, or the one sentence of its absence
        assertTrue(r.out().matches("(?s).*\\nnccl\\s+(NCCL \\d+\\.\\d+\\.\\d+ \\(--backend cuda --gpus N, --nnodes M\\)"
                + "|NCCL was not found: libnccl\\.so\\.2 is not on the library path [^\\n]*)\\n.*"), r.out());
        // what the kernels need, read from the fatbin itself (or that this build has none)
        assertTrue(r.out().matches("(?s).*\\nfatbin\\s+(not in this build \\(nvcc was not found[^\\n]*|\\S+gpt4llm\\.fatbin: "
                + "sm_80 and sm_90 cubins, compute_80 PTX of ISA \\d+\\.\\d; needs an NVIDIA driver for CUDA \\d+\\.\\d "
                + "or newer \\(R\\d+\\+\\))\\n.*"), r.out());
    }

    @Test
    void initModelWritesAnHfCheckpointWithHfInitialisation(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("m");
        CliRun r = run("init-model", "--arch", "llama", "--preset", "tiny", "--vocab", "301", "--out", out.toString(),
                "--seed", "7");
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isRegularFile(out.resolve("config.json")));
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        try (DecoderModel m = DecoderModels.load(new CpuBackend(2), out)) {
            assertEquals(301, m.config().vocabSize());
            float[] q = m.parameters().get("model.layers.1.self_attn.q_proj.weight").toFloatArray();
            double mean = 0, sq = 0;
            for (float v : q) {
                mean += v;
                sq += (double) v * v;
            }
            mean /= q.length;
            double std = Math.sqrt(sq / q.length - mean * mean);
            assertEquals(0.0, mean, 0.002, "mean of normal(0, 0.02) init");
            assertEquals(0.02, std, 0.002, "std of normal(0, 0.02) init");
            for (float v : m.parameters().get("model.norm.weight").toFloatArray()) assertEquals(1f, v);
        }
        // same seed, same weights; another seed, other weights
        Path again = dir.resolve("again"), other = dir.resolve("other");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "301", "--out", again.toString(), "--seed", "7").code());
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "301", "--out", other.toString(), "--seed", "8").code());
        assertArrayEquals(Files.readAllBytes(out.resolve("model.safetensors")), Files.readAllBytes(again.resolve("model.safetensors")));
        assertTrue(!java.util.Arrays.equals(Files.readAllBytes(out.resolve("model.safetensors")),
                Files.readAllBytes(other.resolve("model.safetensors"))));
    }

    @Test
    void initModelRefusesToOverwriteAndNamesBadFlags(@TempDir Path dir) {
        Path out = dir.resolve("m");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "50", "--out", out.toString()).code());
        CliRun again = run("init-model", "--preset", "tiny", "--vocab", "50", "--out", out.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("--force"), again.err());
        CliRun badPreset = run("init-model", "--preset", "huge", "--vocab", "50", "--out", dir.resolve("x").toString());
        assertEquals(2, badPreset.code());
        assertTrue(badPreset.err().contains("--preset huge"), badPreset.err());
        CliRun badDtype = run("init-model", "--dtype", "f8", "--vocab", "50", "--out", dir.resolve("y").toString());
        assertEquals(2, badDtype.code());
        assertTrue(badDtype.err().contains("--dtype f8"), badDtype.err());
    }

    @Test
    void bf16CheckpointLoadsAsTheRoundedWeights(@TempDir Path dir) throws Exception {
        Path f32 = dir.resolve("f32"), bf16 = dir.resolve("bf16");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "64", "--out", f32.toString(), "--seed", "3").code());
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "64", "--out", bf16.toString(), "--seed", "3",
                "--dtype", "bf16").code());
        assertEquals("float32", torchDtype(f32));
        assertEquals("bfloat16", torchDtype(bf16));
        CpuBackend be = new CpuBackend(2);
        try (DecoderModel a = DecoderModels.load(be, f32); DecoderModel b = DecoderModels.load(be, bf16)) {
            for (var e : a.parameters().entrySet()) {
                float[] x = e.getValue().toFloatArray(), y = b.parameters().get(e.getKey()).toFloatArray();
                for (int i = 0; i < x.length; i++) {
                    // bf16 keeps 7 explicit mantissa bits: round-to-nearest is off by at most 2^-8 relative
                    assertEquals(x[i], y[i], Math.abs(x[i]) * 0x1p-8f * 1.001f, e.getKey() + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void modelCheckpointRoundTripsBitIdentically(@TempDir Path dir) throws Exception {
        CpuBackend be = new CpuBackend(2);
        Path first = dir.resolve("first"), second = dir.resolve("second");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "77", "--out", first.toString(),
                "--seed", "11", "--tie-embeddings").code());
        try (DecoderModel m = DecoderModels.load(be, first)) {
            m.save(second);
            try (DecoderModel back = DecoderModels.load(be, second)) {
                for (var e : m.parameters().entrySet()) {
                    Tensor t = back.parameters().get(e.getKey());
                    assertEquals(-1L, e.getValue().data().mismatch(t.data()), e.getKey());
                }
                assertTrue(back.config().tieWordEmbeddings());
            }
        }
        assertArrayEquals(Files.readAllBytes(first.resolve("model.safetensors")),
                Files.readAllBytes(second.resolve("model.safetensors")));
    }

    /** A GPU backend keeps its weights in bf16 and saves them so: config.json says so too. */
    @Test
    void bf16ParametersSaveAsBfloat16(@TempDir Path dir) throws Exception {
        Path first = dir.resolve("first"), saved = dir.resolve("saved");
        assertEquals(0, run("init-model", "--preset", "tiny", "--vocab", "64", "--out", first.toString()).code());
        try (Backend emu = Backends.open("cuda-emu", 2); DecoderModel m = DecoderModels.load(emu, first)) {
            m.save(saved);
        }
        assertEquals("bfloat16", torchDtype(saved));
        try (Arena map = Arena.ofConfined()) {
            assertEquals(DType.BF16, SafeTensors.open(saved.resolve("model.safetensors"), map).info("model.norm.weight").dtype());
        }
    }

    /**
     * An OPT from the OPT tokenizer (fairseq's GPT-2 BPE ids as RoBERTa's tokenizer.json holds them): its
     * vocabulary and special ids, a tied head, HF initialisation (LayerNorm weights 1, biases 0), and a
     * model that loads back and runs.
     */
    @Test
    void initModelWritesAnOptFromItsTokenizer(@TempDir Path dir) throws Exception {
        Path tok = SharedFiles.get("models/opt-tokenizer-roberta"), out = dir.resolve("opt");
        CliRun r = run("init-model", "--arch", "opt", "--preset", "tiny", "--tokenizer", tok.toString(), "--out",
                out.toString(), "--seed", "5", "--dtype", "bf16");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("opt tiny"), r.out());
        JsonNode c = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals("opt", c.get("model_type").asText());
        assertEquals("OPTForCausalLM", c.get("architectures").get(0).asText());
        assertEquals("bfloat16", c.get("torch_dtype").asText());
        assertTrue(Files.isRegularFile(out.resolve("tokenizer.json")));
        int vocab;
        try (HfTokenizer t = Tokenizers.load(tok)) {
            vocab = t.vocabSize();
            assertEquals(t.bosId(), c.get("bos_token_id").asInt());
            assertEquals(t.eosId(), c.get("eos_token_id").asInt());
            assertEquals(t.padId(), c.get("pad_token_id").asInt());
        }
        // fairseq's ids: <s> 0, <pad> 1, </s> 2
        assertEquals(List.of(0, 2, 1), List.of(c.get("bos_token_id").asInt(), c.get("eos_token_id").asInt(),
                c.get("pad_token_id").asInt()));
        try (DecoderModel m = DecoderModels.load(new CpuBackend(2), out)) {
            OptConfig cfg = assertInstanceOf(OptConfig.class, m.config());
            // the tiny preset with the tokenizer's ids
            assertEquals(OptConfig.preset("tiny", vocab).toBuilder().bosTokenId(0).eosTokenId(2).padTokenId(1).build(), cfg);
            assertEquals(DecoderModels.parameterShapes(cfg).keySet(), m.parameters().keySet());
            assertTrue(cfg.tieWordEmbeddings() && !m.parameters().containsKey("lm_head.weight"));
            float[] fc1 = m.parameters().get("model.decoder.layers.1.fc1.weight").toFloatArray();
            double sq = 0;
            for (float v : fc1) sq += (double) v * v;
            assertEquals(0.02, Math.sqrt(sq / fc1.length), 0.002, "std of normal(0, 0.02) init");
            for (float v : m.parameters().get("model.decoder.final_layer_norm.weight").toFloatArray()) assertEquals(1f, v);
            for (float v : m.parameters().get("model.decoder.layers.0.fc1.bias").toFloatArray()) assertEquals(0f, v);
            int[][] rows = {new int[] {0, 100, 200, 300, 2}};
            float loss = m.forward(TokenBatch.causalLm(rows, cfg.padTokenId()));
            // at init the logits are nearly uniform: the loss is about ln(vocab)
            assertEquals(Math.log(vocab), loss, 0.1, "loss of a fresh model");
        }
        CliRun badArch = run("init-model", "--arch", "gpt2", "--out", dir.resolve("x").toString());
        assertEquals(2, badArch.code());
        assertTrue(badArch.err().contains("--arch gpt2 is not llama or opt"), badArch.err());
        CliRun badPreset = run("init-model", "--arch", "opt", "--preset", "7b", "--vocab", "50", "--out", dir.resolve("y").toString());
        assertEquals(2, badPreset.code());
        assertTrue(badPreset.err().contains("unknown --preset 7b for OPT"), badPreset.err());
    }

    private static String torchDtype(Path model) throws Exception {
        return new ObjectMapper().readTree(model.resolve("config.json").toFile()).get("torch_dtype").asText();
    }
}
