package org.gpt4llm.generate.jinja;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.classes;

import com.tngtech.archunit.ArchConfiguration;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The template engine stands alone: it uses the JDK only, so generate (its user) and it form no cycle. */
class JinjaPackageTest {
    @Test
    void dependsOnTheJdkOnly() throws Exception {
        Path classes = Path.of(Template.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        // the names of the classes depended on are enough: reading the JDK's classes too takes seconds
        ArchConfiguration.get().setResolveMissingDependenciesFromClassPath(false);
        JavaClasses engine;
        try {
            engine = new ClassFileImporter().importPath(classes.resolve("org/gpt4llm/generate/jinja"));
        } finally {
            ArchConfiguration.get().reset();
        }
        classes().that().resideInAPackage("org.gpt4llm.generate.jinja")
                .should().onlyDependOnClassesThat().resideInAnyPackage("org.gpt4llm.generate.jinja", "java..")
                .check(engine);
    }
}
