package org.gpt4llm.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import org.gpt4llm.tokenizer.Tokenizer;
import org.gpt4llm.model.DecodeModel;
import org.gpt4llm.model.DecodeSession;

/**
 * {@link TextGenerator} over a {@link DecodeModel}: requests are decoded together in sessions of up to
 * {@code maxBatch} rows, each row with its own {@link SamplingParams} and {@link Sampler}.
 *
 * <p>A row ends at EOS (when its params say so), at a stop string, after its max new tokens, when
 * prompt plus completion reach the context limit, or when the listener cancels it. Finished rows are
 * fed the pad token while others go on; when every row has finished the session ends. When a finished
 * row would outgrow the session (its context is full) the rows still going are moved into a fresh
 * session (prompt plus generated tokens prefilled again), so no row is cut short by another.
 *
 * <p>Logits that are NaN or infinite (broken weights, overflowing activations) end the whole call
 * with a {@link NonFiniteLogitsException}: text sampled from them would be noise, or empty.
 */
public final class Generator implements TextGenerator {
    private final DecodeModel model;
    private final Tokenizer tokenizer;
    private final int maxBatch;
    private final int maxLength;

    /**
     * @param maxLength the longest prompt plus completion, at most the model's positions (0: the model's)
     */
    public Generator(DecodeModel model, Tokenizer tokenizer, int maxBatch, int maxLength) {
        if (maxBatch < 1) throw new IllegalArgumentException("the batch must hold at least one row, got " + maxBatch);
        if (tokenizer.vocabSize() > model.vocabSize()) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize() + " tokens but the model only "
                    + model.vocabSize());
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.maxBatch = maxBatch;
        this.maxLength = maxLength <= 0 ? model.maxPositions() : Math.min(maxLength, model.maxPositions());
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int maxLength() {
        return maxLength;
    }

    @Override
    public List<Completion> generate(List<GenerationRequest> requests, TokenListener listener) {
        List<Completion> out = new ArrayList<>(requests.size());
        for (int from = 0; from < requests.size(); from += maxBatch) {
            List<Row> rows = new ArrayList<>();
            for (int i = from; i < Math.min(requests.size(), from + maxBatch); i++) {
                rows.add(new Row(i, requests.get(i)));
            }
            GenerateEvent event = new GenerateEvent();
            event.begin();
            run(rows, listener);
            for (Row r : rows) {
                Completion c = r.completion();
                out.add(c);
                event.promptTokens += c.promptTokens();
                event.newTokens += c.tokens().length;
                if ("length".equals(c.finishReason())) event.lengthFinished++;
            }
            event.requests = rows.size();
            event.commit();
        }
        return out;
    }

    /** One request being decoded. */
    private final class Row {
        final int index;
        final int[] prompt;
        final SamplingParams params;
        final Sampler sampler;
        final BitSet seen = new BitSet();
        final TextStream text;
        int[] generated = new int[16];
        int count;
        String finish;

        Row(int index, GenerationRequest request) {
            this.index = index;
            this.prompt = request.prompt();
            this.params = request.params();
            this.sampler = new Sampler(params);
            this.text = new TextStream(tokenizer, params.stop());
            for (int t : prompt) seen.set(t);
        }

        boolean done() {
            return finish != null;
        }

        int length() {
            return prompt.length + count;
        }

        /** Prompt plus generated tokens, what a fresh session must prefill to go on. */
        int[] sequence() {
            int[] s = Arrays.copyOf(prompt, length());
            System.arraycopy(generated, 0, s, prompt.length, count);
            return s;
        }

        /** Ends the row; what was held back of its text is streamed unless it was cancelled. */
        void end(String reason, TokenListener listener) {
            finish = reason;
            if (!reason.equals("cancelled")) {
                String rest = text.finish();
                if (!rest.isEmpty()) listener.onText(index, rest);
            }
        }

        /** Samples from {@code logits}, takes the token and ends the row where that token ends it. */
        void accept(float[] logits, TokenListener listener) {
            if (!finite(logits, Math.min(logits.length, tokenizer.vocabSize()))) throw new NonFiniteLogitsException(index, count);
            // ids past the tokenizer's vocabulary (a padded embedding table) cannot be decoded: never pick them
            if (logits.length > tokenizer.vocabSize()) Arrays.fill(logits, tokenizer.vocabSize(), logits.length, Float.NEGATIVE_INFINITY);
            int token = sampler.next(logits, seen);
            if (params.stopAtEos() && token == tokenizer.eosId()) {
                end("stop", listener);
                return;
            }
            if (count == generated.length) generated = Arrays.copyOf(generated, 2 * count);
            generated[count++] = token;
            seen.set(token);
            String delta = text.add(token);
            if (!delta.isEmpty() && !listener.onText(index, delta)) {
                finish = "cancelled";
            } else if (text.stopped()) {
                end("stop", listener);
            } else if (count >= params.maxNewTokens() || length() >= maxLength) {
                end("length", listener);
            }
        }

        Completion completion() {
            return new Completion(text.tokens(), text.text(), finish, prompt.length);
        }
    }

    /**
     * Whether the first {@code n} logits are all finite, in one pass of integer ops: adding one to
     * the exponent of a NaN or an infinity (all ones) carries into the sign bit, of a finite value never.
     */
    static boolean finite(float[] logits, int n) {
        int carried = 0;
        for (int t = 0; t < n; t++) carried |= (Float.floatToRawIntBits(logits[t]) & 0x7fffffff) + 0x00800000;
        return carried >= 0;
    }

    private void run(List<Row> rows, TokenListener listener) {
        List<Row> live = new ArrayList<>();
        for (Row r : rows) {
            if (r.params.maxNewTokens() == 0 || r.prompt.length >= maxLength) r.end("length", listener);
            else live.add(r);
        }
        while (!live.isEmpty()) {
            int need = 0;
            for (Row r : live) need = Math.max(need, Math.min(maxLength, r.prompt.length + r.params.maxNewTokens()));
            try (DecodeSession session = model.open(live.size(), need)) {
                int[][] prompts = new int[live.size()][];
                for (int i = 0; i < prompts.length; i++) prompts[i] = live.get(i).sequence();
                float[][] logits = session.prefill(prompts);
                while (true) {
                    for (int i = 0; i < live.size(); i++) if (!live.get(i).done()) live.get(i).accept(logits[i], listener);
                    boolean anyLeft = false, full = false;
                    for (int i = 0; i < live.size(); i++) {
                        if (!live.get(i).done()) anyLeft = true;
                        else if (session.length(i) >= session.maxLength()) full = true;
                    }
                    if (!anyLeft || full) break;
                    int[] next = new int[live.size()];
                    for (int i = 0; i < next.length; i++) {
                        Row r = live.get(i);
                        next[i] = r.done() ? tokenizer.padId() : r.generated[r.count - 1];
                    }
                    logits = session.step(next);
                }
            }
            live.removeIf(Row::done);
        }
    }
}
