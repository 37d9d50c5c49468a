package org.gpt4llm.generate;

import java.util.List;
import org.gpt4llm.tokenizer.Tokenizer;

/** Continues several prompts together, each with its own sampling parameters. */
public interface TextGenerator {
    /** One completion per request, in order; the requests are decoded as one batch. */
    List<Completion> generate(List<GenerationRequest> requests, TokenListener listener);

    Tokenizer tokenizer();

    /** The longest prompt plus completion the model accepts. */
    int maxLength();
}
