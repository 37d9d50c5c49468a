package org.gpt4llm.architecture.cyclefixture.left;

import org.gpt4llm.architecture.cyclefixture.right.Right;

/** Half of a package cycle made on purpose, for the check that must catch it. */
public final class Left {
    public Right partner() {
        return new Right();
    }
}
