package org.gpt4llm.data;

import org.gpt4llm.model.Batch;
import org.gpt4llm.model.TokenBatch;

/**
 * P preference pairs as one batch of 2P token rows: rows 0..P-1 the chosen responses, rows P..2P-1 the
 * rejected ones in the same order, all right-padded to one length; a row's targets are its response
 * tokens (IGNORE elsewhere). {@code refChosen} and {@code refRejected} [P] are the pairs' summed
 * reference log-probabilities, or null where there is no reference (reference-free, or not yet computed).
 *
 * @param pairIndex each pair's index in its dataset, for the reference cache
 */
public record DpoBatch(TokenBatch tokens, int[] pairIndex, float[] refChosen, float[] refRejected) implements Batch {
    public DpoBatch {
        if (tokens.batch() != 2 * pairIndex.length) {
            throw new IllegalArgumentException(tokens.batch() + " rows for " + pairIndex.length + " pairs");
        }
        if ((refChosen == null) != (refRejected == null)
                || (refChosen != null && (refChosen.length != pairIndex.length || refRejected.length != pairIndex.length))) {
            throw new IllegalArgumentException("reference log-probabilities must be given for every pair or for none");
        }
    }

    public int pairs() {
        return pairIndex.length;
    }

    @Override
    public int lossTerms() {
        return pairIndex.length;
    }

    @Override
    public long tokenCount() {
        return tokens.tokenCount();
    }

    @Override
    public String shape() {
        return tokens.shape();
    }
}
