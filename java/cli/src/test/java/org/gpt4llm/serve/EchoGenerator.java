package org.gpt4llm.serve;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.generate.TextGenerator;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.tokenizer.Tokenizer;

/**
 * A {@link TextGenerator} without a model, for testing the server: row i "generates" its own prompt
 * tokens again (BOS left out), cyclically, starting at offset {@code seed mod length} when sampling
 * (0 when greedy), one token per step for all rows together, sleeping {@code perToken} after each
 * step. It keeps the contract's rules: stop strings end the text and are never streamed, EOS ends
 * it, a listener returning false cancels its row. It records every call's batch size and every
 * completion, and fails any batch with a prompt containing {@link #FAIL}.
 */
final class EchoGenerator implements TextGenerator {
    static final String FAIL = "please fail";

    private final Tokenizer tokenizer;
    private final int maxLength;
    private final Duration perToken;
    final List<Integer> batchSizes = new CopyOnWriteArrayList<>();
    final List<Completion> completions = new CopyOnWriteArrayList<>();
    /** Steps decoded so far, over all calls (to wait until decoding has begun). */
    final AtomicInteger steps = new AtomicInteger();

    EchoGenerator(Tokenizer tokenizer, int maxLength, Duration perToken) {
        this.tokenizer = tokenizer;
        this.maxLength = maxLength;
        this.perToken = perToken;
    }

    @Override
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int maxLength() {
        return maxLength;
    }

    /** The text {@code prompt} alone would produce: what the server must answer whatever the batch. */
    Completion alone(int[] prompt, SamplingParams params) {
        return generateRows(List.of(new GenerationRequest(prompt, params)), TokenListener.NONE, false).getFirst();
    }

    @Override
    public List<Completion> generate(List<GenerationRequest> requests, TokenListener listener) {
        batchSizes.add(requests.size());
        for (GenerationRequest r : requests) {
            if (tokenizer.decode(r.prompt()).contains(FAIL)) throw new IllegalStateException("the test generator was asked to fail");
        }
        List<Completion> out = generateRows(requests, listener, true);
        completions.addAll(out);
        return out;
    }

    private List<Completion> generateRows(List<GenerationRequest> requests, TokenListener listener, boolean pace) {
        int n = requests.size();
        Row[] rows = new Row[n];
        for (int i = 0; i < n; i++) rows[i] = new Row(requests.get(i));
        for (int active = n; active > 0; ) {
            for (int i = 0; i < n; i++) {
                Row row = rows[i];
                if (row.finish != null) continue;
                row.step();
                String delta = row.safeText().substring(row.sent);
                if (!delta.isEmpty() || row.finish != null) {
                    if (!delta.isEmpty() && !listener.onText(i, delta)) row.finish = "cancelled";
                    row.sent += delta.length();
                }
                if (row.finish != null) active--;
            }
            if (pace) {
                steps.incrementAndGet();
                sleep();
            }
        }
        List<Completion> out = new ArrayList<>();
        for (Row r : rows) out.add(new Completion(r.tokens(), r.text(), r.finish, r.request.prompt().length));
        return out;
    }

    private void sleep() {
        try {
            Thread.sleep(perToken);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One sequence being decoded. */
    private final class Row {
        final GenerationRequest request;
        final int[] script;
        final int offset;
        int[] tokens = new int[0];
        String finish;
        int sent;       // characters already given to the listener
        int kept = -1;  // tokens kept once a stop string cut the text

        Row(GenerationRequest request) {
            this.request = request;
            int[] p = request.prompt();
            int from = p.length > 1 && p[0] == tokenizer.bosId() ? 1 : 0;
            this.script = Arrays.copyOfRange(p, from, p.length);
            SamplingParams s = request.params();
            this.offset = s.temperature() == 0 ? 0 : (int) Math.floorMod(s.seed(), (long) script.length);
        }

        void step() {
            SamplingParams s = request.params();
            if (tokens.length >= s.maxNewTokens() || request.prompt().length + tokens.length >= maxLength) {
                finish = "length";
                return;
            }
            int next = script[(offset + tokens.length) % script.length];
            if (s.stopAtEos() && next == tokenizer.eosId()) {
                finish = "stop";
                return;
            }
            tokens = Arrays.copyOf(tokens, tokens.length + 1);
            tokens[tokens.length - 1] = next;
            String text = tokenizer.decode(tokens);
            for (String stop : s.stop()) {
                if (text.contains(stop)) {
                    finish = "stop";
                    kept = tokens.length - 1;  // the token that completed the stop string is not part of the answer
                }
            }
            if (finish == null && tokens.length >= s.maxNewTokens()) finish = "length";
        }

        /** The text so far, cut before a stop string; while running, without what could still become one. */
        String safeText() {
            String text = tokenizer.decode(tokens);
            int cut = text.length();
            for (String stop : request.params().stop()) {
                int at = text.indexOf(stop);
                if (at >= 0) cut = Math.min(cut, at);
            }
            if (finish == null) {
                for (String stop : request.params().stop()) {
                    for (int k = Math.min(stop.length() - 1, text.length()); k > 0; k--) {
                        if (text.endsWith(stop.substring(0, k))) {
                            cut = Math.min(cut, text.length() - k);
                            break;
                        }
                    }
                }
                // never half a character
                while (cut > 0 && text.charAt(cut - 1) == '\uFFFD') cut--;
            }
            return text.substring(0, cut);
        }

        /** A cancelled row's text is what its listener was given. */
        String text() {
            String text = safeText();
            return "cancelled".equals(finish) ? text.substring(0, Math.min(sent, text.length())) : text;
        }

        int[] tokens() {
            return kept >= 0 ? Arrays.copyOf(tokens, kept) : tokens;
        }
    }
}
