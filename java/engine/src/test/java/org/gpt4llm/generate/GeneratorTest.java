package org.gpt4llm.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.testing.TestSeeds;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The generator on scripted logits with LLaMA-2's real tokenizer (byte-fallback tokens for rare
 * characters): what ends a row, what is streamed, and that a row's result does not depend on its batch.
 */
class GeneratorTest {
    static HfTokenizer tok;
    static int vocab;

    @BeforeAll
    static void tokenizer() throws Exception {
        tok = Tokenizers.load(SharedFiles.get("models/llama2-tokenizer"));
        vocab = tok.vocabSize();
    }

    @AfterAll
    static void close() {
        if (tok != null) tok.close();
    }

    /** Every delta per request, in order. */
    static final class Deltas implements TokenListener {
        final Map<Integer, List<String>> got = new HashMap<>();

        @Override
        public boolean onText(int index, String delta) {
            assertFalse(delta.isEmpty(), "no empty deltas");
            got.computeIfAbsent(index, k -> new ArrayList<>()).add(delta);
            return true;
        }

        String joined(int index) {
            return String.join("", got.getOrDefault(index, List.of()));
        }
    }

    private static int[] prompt(String text) {
        int[] ids = tok.encode(text);
        int[] p = new int[ids.length + 1];
        p[0] = tok.bosId();
        System.arraycopy(ids, 0, p, 1, ids.length);
        return p;
    }

    private static int[] with(int[] a, int... more) {
        int[] out = Arrays.copyOf(a, a.length + more.length);
        System.arraycopy(more, 0, out, a.length, more.length);
        return out;
    }

    private static SamplingParams greedy(int max, String... stop) {
        return new SamplingParams(max, 0f, 0, 1f, 1f, List.of(stop), true, 0);
    }

    @Test
    void eosStopStringsAndIncompleteCharactersShapeTheStream() {
        List<int[]> prompts = List.of(prompt("one"), prompt("two"), prompt("three"), prompt("four"));
        String chinese = "中文 ok 𝄞 ß!";
        int[] hello = tok.encode("Hello world");
        int[] stopText = tok.encode("Sure. ##not yet, ###End of it");
        int[] utf = tok.encode(chinese);
        assertTrue(Arrays.stream(utf).anyMatch(t -> tok.decode(new int[] {t}).contains("\uFFFD")),
                "the script has byte-fallback tokens that are not characters on their own");
        List<int[]> scripts = List.of(with(hello, tok.eosId()), stopText, with(utf, tok.eosId()), hello);
        ScriptedDecodeModel m = ScriptedDecodeModel.scripted(vocab, 512, prompts, scripts, tok.encode("x")[0]);
        Generator g = new Generator(m, tok, 8, 0);
        Deltas d = new Deltas();
        List<Completion> c = g.generate(List.of(
                new GenerationRequest(prompts.get(0), greedy(50)),
                new GenerationRequest(prompts.get(1), greedy(50, "###End", "never")),
                new GenerationRequest(prompts.get(2), greedy(50)),
                new GenerationRequest(prompts.get(3), greedy(hello.length - 1))), d);

        assertEquals("Hello world", c.get(0).text());
        assertEquals("stop", c.get(0).finishReason());
        assertArrayEquals(hello, c.get(0).tokens(), "EOS is not part of the tokens");
        assertEquals(prompts.get(0).length, c.get(0).promptTokens());

        assertEquals("Sure. ##not yet, ", c.get(1).text(), "cut before the stop string");
        assertEquals("stop", c.get(1).finishReason());
        // the stop string's tokens are dropped (the space before it shares a token with it)
        assertEquals("Sure. ##not yet,", tok.decode(c.get(1).tokens()));
        assertArrayEquals(Arrays.copyOf(stopText, c.get(1).tokens().length), c.get(1).tokens());
        for (String delta : d.got.get(1)) assertFalse(delta.contains("###"), "stop text never streamed: " + d.got.get(1));
        assertTrue(d.got.get(1).size() > 1, "streamed in pieces: " + d.got.get(1));

        assertEquals(chinese, c.get(2).text());
        for (String delta : d.got.get(2)) assertFalse(delta.contains("\uFFFD"), "never half a character: " + d.got.get(2));

        assertEquals("length", c.get(3).finishReason());
        assertArrayEquals(Arrays.copyOf(hello, hello.length - 1), c.get(3).tokens());

        for (int i = 0; i < 4; i++) assertEquals(c.get(i).text(), d.joined(i), "the deltas add up to the text of " + i);
        // the longest row (the stop-string one) decides the number of steps; nobody is stepped after all are done
        int longest = Math.max(Math.max(hello.length + 1, utf.length + 1), stopText.length);
        assertTrue(m.fed.size() < longest, m.fed.size() + " steps for at most " + longest + " tokens");
        for (int[] step : m.fed.subList(hello.length + 1, m.fed.size())) {
            assertEquals(tok.padId(), step[0], "a finished row is fed padding");
        }
    }

    @Test
    void heldBackTextIsReleasedWhenItIsNoStopString() {
        int[] p = prompt("q");
        int[] script = tok.encode("a # b ## c");
        ScriptedDecodeModel m = ScriptedDecodeModel.scripted(vocab, 512, List.of(p), List.of(with(script, tok.eosId())), 0);
        Deltas d = new Deltas();
        Completion c = new Generator(m, tok, 1, 0).generate(List.of(new GenerationRequest(p, greedy(40, "###"))), d).getFirst();
        assertEquals("a # b ## c", c.text());
        assertEquals("stop", c.finishReason());
        assertEquals(c.text(), d.joined(0));
    }

    @Test
    void contextLimitEndsARow() {
        int[] p = prompt("a long enough prompt");
        int[] script = tok.encode("and a much longer answer than the context can take");
        ScriptedDecodeModel m = ScriptedDecodeModel.scripted(vocab, 16, List.of(p), List.of(script), 0);
        Completion c = new Generator(m, tok, 4, 0).generate(List.of(new GenerationRequest(p, greedy(100))), TokenListener.NONE)
                .getFirst();
        assertEquals("length", c.finishReason());
        assertEquals(16 - p.length, c.tokens().length, "prompt plus completion fill the 16 positions");
        assertArrayEquals(Arrays.copyOf(script, 16 - p.length), c.tokens());
        // a prompt that already fills the context gets nothing
        int[] full = new int[16];
        Arrays.fill(full, 5);
        Completion none = new Generator(m, tok, 4, 0).generate(List.of(new GenerationRequest(full, greedy(10))),
                TokenListener.NONE).getFirst();
        assertEquals("length", none.finishReason());
        assertEquals(0, none.tokens().length);
    }

    @Test
    void cancellingOneRowLeavesTheOthers() {
        List<GenerationRequest> reqs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            reqs.add(new GenerationRequest(prompt("row " + i), new SamplingParams(12, 0.8f, 0, 1f, 1f, List.of(), false, i)));
        }
        ScriptedDecodeModel m = new ScriptedDecodeModel(vocab, 512, s -> ScriptedDecodeModel.noise(s, vocab));
        Generator g = new Generator(m, tok, 3, 0);
        List<Completion> all = g.generate(reqs, TokenListener.NONE);
        int[] calls = new int[3];
        List<Completion> cut = g.generate(reqs, (i, delta) -> ++calls[i] < 2 || i != 1);
        assertEquals("cancelled", cut.get(1).finishReason());
        assertEquals(2, calls[1], "no text after the listener said no");
        assertTrue(cut.get(1).tokens().length < 12);
        for (int i : new int[] {0, 2}) {
            assertEquals("length", cut.get(i).finishReason());
            assertArrayEquals(all.get(i).tokens(), cut.get(i).tokens());
        }
    }

    @Test
    void eachRowIsDecodedAsIfAlone() {
        // sampled, filtered, penalised, stopped and greedy rows with prompts of different lengths, in one
        // batch, in batches of two, and alone; the context is tight so a finished long row fills it first
        List<GenerationRequest> reqs = List.of(
                new GenerationRequest(prompt("a"), new SamplingParams(30, 1.1f, 0, 1f, 1f, List.of(), false, 1)),
                new GenerationRequest(prompt("a somewhat longer prompt here"), new SamplingParams(30, 0.7f, 50, 1f, 1f, List.of(), false, 2)),
                new GenerationRequest(prompt("bb"), new SamplingParams(25, 1f, 0, 0.9f, 1.3f, List.of(), false, 3)),
                new GenerationRequest(prompt("ccc"), new SamplingParams(30, 0f, 0, 1f, 1.5f, List.of(), false, 4)),
                new GenerationRequest(prompt("dd"), new SamplingParams(30, 1f, 0, 1f, 1f, List.of("e", "a"), false, 5)));
        ScriptedDecodeModel m = new ScriptedDecodeModel(vocab, 24, s -> ScriptedDecodeModel.noise(s, vocab));
        List<Completion> batched = new Generator(m, tok, 5, 0).generate(reqs, TokenListener.NONE);
        assertTrue(m.sessions.size() > 1, "the long row filled the context and the others moved on");
        List<Completion> pairs = new Generator(m, tok, 2, 0).generate(reqs, TokenListener.NONE);
        for (int i = 0; i < reqs.size(); i++) {
            Completion alone = new Generator(m, tok, 1, 0).generate(List.of(reqs.get(i)), TokenListener.NONE).getFirst();
            for (Completion c : new Completion[] {batched.get(i), pairs.get(i)}) {
                assertArrayEquals(alone.tokens(), c.tokens(), "row " + i);
                assertEquals(alone.text(), c.text());
                assertEquals(alone.finishReason(), c.finishReason());
            }
        }
        assertEquals("length", batched.get(1).finishReason());
        assertEquals(24 - reqs.get(1).prompt().length, batched.get(1).tokens().length);
        assertEquals("stop", batched.get(4).finishReason(), "a sampled text hits a one-letter stop string");
        // another seed, another text
        var reseeded = new GenerationRequest(reqs.get(0).prompt(), new SamplingParams(30, 1.1f, 0, 1f, 1f, List.of(), false, 9));
        assertFalse(Arrays.equals(batched.get(0).tokens(),
                new Generator(m, tok, 1, 0).generate(List.of(reseeded), TokenListener.NONE).getFirst().tokens()));
    }

    @Test
    void logitsThatAreNotFiniteStopTheCall() {
        Random rng = TestSeeds.random();
        float[] z = new float[vocab];
        // magnitudes from 1e-20 to 1e20 and beyond, all well inside a float's range
        for (int t = 0; t < vocab; t++) z[t] = (float) (rng.nextGaussian() * Math.exp(Math.clamp(rng.nextGaussian() * 15, -80, 80)));
        z[rng.nextInt(vocab)] = Float.MAX_VALUE;
        z[rng.nextInt(vocab)] = -Float.MAX_VALUE;
        z[rng.nextInt(vocab)] = Float.MIN_VALUE;
        z[rng.nextInt(vocab)] = -0f;
        assertTrue(Generator.finite(z, vocab), "finite logits of every size pass");
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0xffc00001)}) {
            float[] broken = z.clone();
            int at = rng.nextInt(vocab);
            broken[at] = bad;
            assertFalse(Generator.finite(broken, vocab), bad + " at " + at);
            assertTrue(Generator.finite(broken, at), "only the first n are looked at");
        }

        // a model whose logits turn NaN at the third new token of the second request
        int[] a = prompt("one"), b = prompt("two");
        ScriptedDecodeModel scripted = ScriptedDecodeModel.scripted(vocab, 64, List.of(a, b), List.of(new int[0], new int[0]), 100);
        ScriptedDecodeModel m = new ScriptedDecodeModel(vocab, 64, seq -> {
            float[] logits = scripted.open(1, 64).prefill(new int[][] {seq})[0];
            if (seq.length == b.length + 2 && Arrays.equals(b, Arrays.copyOf(seq, b.length))) Arrays.fill(logits, Float.NaN);
            return logits;
        });
        List<GenerationRequest> reqs = List.of(new GenerationRequest(a, greedy(10)), new GenerationRequest(b, greedy(10)));
        NonFiniteLogitsException e = assertThrows(NonFiniteLogitsException.class,
                () -> new Generator(m, tok, 2, 0).generate(reqs, TokenListener.NONE));
        assertEquals(1, e.request());
        assertEquals(2, e.token());
        assertEquals("the model's logits for new token 3 of request 1 are NaN or infinite: its weights (or an adapter's) are broken"
                + " or its activations overflow", e.getMessage());
    }
}
