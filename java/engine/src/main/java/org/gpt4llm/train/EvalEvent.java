package org.gpt4llm.train;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** One held-out evaluation (every held-out micro-batch, forward only) on the JFR timeline. */
@Name("org.gpt4llm.Evaluate")
@Label("Held-out evaluation")
@Category({"gpt4llm", "Training"})
@Description("Forward passes over the held-out set, in evaluation mode")
final class EvalEvent extends Event {
    @Label("After step")
    @Description("Optimizer steps done before this evaluation (0: before training)")
    int step;

    @Label("Held-out loss")
    float loss;

    @Label("Loss terms")
    @Description("Target tokens (or response pairs of a reward model) the loss averages over")
    long terms;

    @Label("Tokens")
    @Description("Non-padding tokens read")
    long tokens;
}
