package org.gpt4llm.architecture.cyclefixture.right;

import org.gpt4llm.architecture.cyclefixture.left.Left;

/** The other half of the package cycle made on purpose. */
public final class Right {
    public Left partner() {
        return new Left();
    }
}
