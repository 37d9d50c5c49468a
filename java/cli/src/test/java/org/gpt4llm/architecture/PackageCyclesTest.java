package org.gpt4llm.architecture;

import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.lang.ArchRule;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.gpt4llm.testing.ProjectFiles;
import org.junit.jupiter.api.Test;

/**
 * No two packages of gpt4llm depend on each other, directly or around a longer loop: every package
 * (each sub-package on its own, e.g. backend.cuda.device below backend.cuda.kernels below
 * backend.cuda) sits in one layer. The production classes of every module (datagen, eval, engine,
 * reference, cli) are read from their build folders, so one check covers them all.
 */
class PackageCyclesTest {
    /** The rule: the packages under {@code root}, each its own slice, are free of cycles. */
    static ArchRule noCyclesUnder(String root) {
        return slices().matching(root + ".(**)").should().beFreeOfCycles();
    }

    @Test
    void theProjectsPackagesHaveNoCycles() {
        List<Path> modules = Stream.of("datagen", "eval", "java/engine", "java/reference", "java/cli")
                .map(m -> ProjectFiles.get(m + "/target/classes")).toList();
        JavaClasses classes = new ClassFileImporter().importPaths(modules);
        assertTrue(classes.contain("org.gpt4llm.api.Engine") && classes.contain("org.gpt4llm.cli.Main")
                        && classes.contain("org.gpt4llm.datagen.run.JobRunner") && classes.contain("org.gpt4llm.reference.TorchLlama"),
                "the engine, cli, datagen and reference classes are imported: " + classes.size() + " classes");
        noCyclesUnder("org.gpt4llm").check(classes);
    }

    /** The same rule over two packages that use each other on purpose (test classes of this module). */
    @Test
    void aCycleIntroducedOnPurposeFailsTheCheck() {
        JavaClasses fixture = new ClassFileImporter().importPackages("org.gpt4llm.architecture.cyclefixture");
        assertTrue(fixture.size() >= 2, "the fixture's classes are found");
        AssertionError e = assertThrows(AssertionError.class,
                () -> noCyclesUnder("org.gpt4llm.architecture.cyclefixture").check(fixture));
        assertTrue(e.getMessage().contains("cyclefixture.left") && e.getMessage().contains("cyclefixture.right"),
                "the message names both packages of the cycle: " + e.getMessage());
    }
}
