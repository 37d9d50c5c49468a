package org.gpt4llm.train;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/** One optimizer step (all its micro-batches and the update) on the JFR timeline. */
@Name("org.gpt4llm.TrainStep")
@Label("Training step")
@Category({"gpt4llm", "Training"})
@Description("Forward and backward of every micro-batch of one step, and the optimizer update")
final class StepEvent extends Event {
    @Label("Step")
    int step;

    @Label("Loss")
    float loss;

    @Label("Tokens")
    @Description("Non-padding tokens of the step")
    long tokens;
}
