package org.gpt4llm.generate;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** One batch of requests decoded together by the {@link Generator} (prefill and every decode step) on the JFR timeline. */
@Name("org.gpt4llm.Generate")
@Label("Generation batch")
@Category({"gpt4llm", "Generation"})
@Description("Requests decoded together with the KV cache: prefill, decode steps and sampling")
final class GenerateEvent extends Event {
    @Label("Requests")
    int requests;

    @Label("Prompt tokens")
    @Description("Prompt tokens of all requests of the batch")
    long promptTokens;

    @Label("New tokens")
    @Description("Tokens generated for all requests of the batch (stop strings and EOS excluded)")
    long newTokens;

    @Label("Hit length limit")
    @Description("Requests that ended at their max new tokens or the context limit")
    int lengthFinished;
}
