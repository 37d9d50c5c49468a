package org.gpt4llm.generate;

/**
 * A model gave NaN or infinite logits while decoding: its weights (or an adapter's) are broken or its
 * activations overflow, and whatever it would sample from them is noise. Decoding stops.
 */
public final class NonFiniteLogitsException extends IllegalStateException {
    private final int request;
    private final int token;

    NonFiniteLogitsException(int request, int token) {
        super("the model's logits for new token " + (token + 1) + " of request " + request
                + " are NaN or infinite: its weights (or an adapter's) are broken or its activations overflow");
        this.request = request;
        this.token = token;
    }

    /** The index of the request being decoded, in the list given to {@link TextGenerator#generate}. */
    public int request() {
        return request;
    }

    /** How many tokens that request had generated before. */
    public int token() {
        return token;
    }
}
