package org.gpt4llm.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.gpt4llm.backend.cpu.CpuBackend;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.Generator;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.io.Checkpoint;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LlamaConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The real stories260K GGUF (a tiny LLaMA trained on TinyStories) imported and run: it must tell a story. */
class Stories260kTest {
    private static final int NEW_TOKENS = 60;
    /** Common words of children's stories; a fluent continuation uses mostly these. */
    private static final Set<String> COMMON = Set.of(("a about after all also always and are as asked at away back bad"
            + " be because bed big bird bit box boy but by came can cat could day did do dog don't down each eat every"
            + " find first for friend friends from fun gave get girl go good got had happy has have he her him his home"
            + " house i in into is it its jump just kind knew know learned let like little look looked lots loved made"
            + " make mom mommy more much my named new next nice no not now of on once one or other out outside park"
            + " play played playing put ran red saw said sad say see she smiled so some sun tall that the their them"
            + " then there they thing things this time to together too toy toys tree two up upon very want wanted was"
            + " way we went were what when where who wind with would yes you your lily tim timmy ben sue tom sam max"
            + " mia anna spot sky fly flew water food ball car an am ask help").split(" "));

    @Test
    void importedModelTellsAStory(@TempDir Path dir) throws Exception {
        Path gguf = SharedFiles.get("models/stories260K.gguf"), out = dir.resolve("stories260K");
        CliRun r = CliRun.of("import-gguf", gguf.toString(), "--out", out.toString());
        assertEquals(0, r.code(), r.err());

        LlamaConfig c = LlamaConfig.read(out.resolve("config.json"));
        assertEquals(List.of(64, 5, 8, 4, 8, 172, 512), List.of(c.hiddenSize(), c.numLayers(), c.numHeads(), c.numKvHeads(),
                c.headDim(), c.intermediateSize(), c.vocabSize()));
        assertEquals(1e-5f, c.rmsNormEps());
        assertEquals(List.of(1, 2, false), List.of(c.bosTokenId(), c.eosTokenId(), c.tieWordEmbeddings()));

        // one thread: for a model this small, idle OpenMP workers spinning between the many tiny kernel
        // calls cost far more than they save (seconds instead of a tenth of one on two cores)
        try (HfTokenizer tok = Tokenizers.load(out);
             CpuBackend backend = new CpuBackend(1)) {
            String sentence = "Once upon a time, there was a little girl.";
            int[] ids = tok.encode(sentence);
            assertTrue(ids.length < sentence.length() / 2, "whole-word pieces, not characters: " + Arrays.toString(ids));
            assertEquals(sentence, tok.decode(ids));

            String story;
            try (DecoderModel m = DecoderModels.load(backend, out)) {
                int[] tokens = greedy(m, tok);
                story = tok.decode(tokens);
                // the KV-cache generator decodes the same tokens as full forward passes do
                Completion c1 = new Generator(m, tok, 1, 0).generate(List.of(new GenerationRequest(new int[] {tok.bosId()},
                        new SamplingParams(NEW_TOKENS, 0f, 0, 1f, 1f, List.of(), false, 0))), TokenListener.NONE).getFirst();
                assertEquals(Arrays.toString(tokens), Arrays.toString(c1.tokens()), "KV-cache greedy decoding");
            }
            System.out.println("stories260K, greedy from BOS: " + story);
            double common = commonFraction(story);
            assertTrue(common >= 0.85 && story.contains(" was ") && story.contains(".")
                    && (story.contains("She ") || story.contains("He ") || story.contains("They ")),
                    String.format(Locale.ROOT, "not a fluent story (%.0f%% common words): %s", 100 * common, story));

            // control: the same weights with Q and K left in llama.cpp's rotary order ramble
            String scrambled;
            try (Arena arena = Arena.ofConfined()) {
                Map<String, Tensor> w = new LinkedHashMap<>(Checkpoint.load(out, arena));
                w.replaceAll((name, t) -> name.endsWith("q_proj.weight") ? RotaryLayout.toLlamaCpp(t, c.numHeads(), arena)
                        : name.endsWith("k_proj.weight") ? RotaryLayout.toLlamaCpp(t, c.numKvHeads(), arena) : t);
                try (DecoderModel m = DecoderModels.create(backend, c, w)) {
                    scrambled = tok.decode(greedy(m, tok));
                }
            }
            System.out.println("with llama.cpp's rotary order left in: " + scrambled);
            assertTrue(commonFraction(scrambled) < common - 0.2, "the rotary order should matter: " + scrambled);
        }
    }

    @Test
    void importedLogitsMatchFloat64ForwardInLlamaCppsConvention(@TempDir Path dir) throws Exception {
        Path gguf = SharedFiles.get("models/stories260K.gguf"), out = dir.resolve("stories260K");
        assertEquals(0, CliRun.of("import-gguf", gguf.toString(), "--out", out.toString()).code());
        long seed = TestSeeds.next();
        int[] tokens = new Random(seed).ints(12, 0, 512).toArray();
        try (Arena arena = Arena.ofConfined();
             CpuBackend backend = new CpuBackend(1);
             DecoderModel m = DecoderModels.load(backend, out)) {
            m.setTraining(false);
            m.forward(TokenBatch.causalLm(new int[][] {tokens}, 0));
            float[] ours = m.logits().toFloatArray();
            double[] reference = new LlamaCppReference(GgufFile.open(gguf, arena), (LlamaConfig) m.config()).logits(tokens);
            float[] ref = new float[reference.length];
            for (int i = 0; i < ref.length; i++) ref[i] = (float) reference[i];
            double err = Numerics.relErr(ours, ref);
            assertTrue(err < 1e-5, "logits rel err " + err + " (seed " + seed + ")");
        }
    }

    /**
     * NEW_TOKENS argmax tokens after BOS, each from a full forward over the sequence so far. The row
     * always has its final length (the tail is filler the causal mask hides from earlier positions),
     * so the model keeps one set of activations.
     */
    private static int[] greedy(DecoderModel m, HfTokenizer tok) {
        m.setTraining(false);
        int[] row = new int[NEW_TOKENS];
        row[0] = tok.bosId();
        int vocab = m.config().vocabSize();
        for (int len = 1; len <= NEW_TOKENS; len++) {
            m.forward(TokenBatch.causalLm(new int[][] {row}, 0));
            float[] last = m.logits().rows(len - 1, 1).toFloatArray();
            int best = 0;
            for (int v = 1; v < vocab; v++) if (last[v] > last[best]) best = v;
            if (len < NEW_TOKENS) row[len] = best;
            else return Arrays.copyOfRange(append(row, best), 1, NEW_TOKENS + 1);
        }
        throw new AssertionError("unreachable");
    }

    private static int[] append(int[] a, int v) {
        int[] out = Arrays.copyOf(a, a.length + 1);
        out[a.length] = v;
        return out;
    }

    /** The share of the text's words (letters and apostrophes, lower-cased) that are in {@link #COMMON}. */
    private static double commonFraction(String text) {
        String[] words = text.toLowerCase(Locale.ROOT).replaceAll("[^a-z' ]", " ").trim().split("\\s+");
        long known = Arrays.stream(words).filter(COMMON::contains).count();
        return words.length == 0 ? 0 : (double) known / words.length;
    }
}
