package org.gpt4llm.generate.jinja;

import static org.gpt4llm.testing.JsonChecks.nonEmptyArray;
import static org.gpt4llm.testing.JsonChecks.required;
import static org.gpt4llm.testing.JsonChecks.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every case of src/test/resources/chat-templates/goldens, rendered by Python's Jinja2 as transformers sets it up
 * (generate_goldens.py there), rendered again here: the text must be the same to the byte, and where Jinja2 raised
 * we must raise too, with the template's own sentence when raise_exception raised it.
 */
class JinjaGoldenTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path resources() throws Exception {
        return Path.of(JinjaGoldenTest.class.getResource("/chat-templates").toURI());
    }

    static JsonNode read(Path file) throws IOException {
        return JSON.readTree(file.toFile());
    }

    static List<Path> goldenFiles() throws Exception {
        try (Stream<Path> files = Files.list(resources().resolve("goldens"))) {
            return files.filter(f -> f.toString().endsWith(".json")).sorted().toList();
        }
    }

    /** One argument set per case: the file, the case's name, the template source and the case. */
    static Stream<Arguments> cases() throws Exception {
        List<Arguments> all = new ArrayList<>();
        for (Path file : goldenFiles()) {
            JsonNode golden = read(file);
            String shared = golden.has("template") ? Files.readString(resources().resolve(text(golden, "template")),
                    StandardCharsets.UTF_8) : null;
            for (JsonNode c : nonEmptyArray(golden, "cases")) {
                String source = shared != null ? shared : text(c, "template");
                all.add(Arguments.of(file.getFileName().toString(), text(c, "name"), source, c));
            }
        }
        return all.stream();
    }

    static Map<String, Object> variables(JsonNode c) {
        return JSON.convertValue(required(c, "variables"), new TypeReference<Map<String, Object>>() {});
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void rendersAsJinja2Does(String file, String name, String source, JsonNode c) {
        if (c.has("expected")) {
            String rendered = Template.compile(source, file).render(variables(c));
            assertEquals(text(c, "expected"), rendered, file + " " + name);
            return;
        }
        String pythonError = text(c, "error");
        TemplateError e = assertThrows(TemplateError.class, () -> Template.compile(source, file).render(variables(c)),
                file + " " + name + " raises in Jinja2: " + pythonError);
        if (required(c, "raised_by_template").asBoolean()) {
            assertTrue(e.raisedByTemplate(), e.getMessage());
            assertEquals(pythonError, e.detail());
            assertTrue(e.getMessage().endsWith("refused the conversation: " + pythonError), e.getMessage());
        } else {
            assertTrue(!e.raisedByTemplate() && e.getMessage().startsWith(file), e.getMessage());
        }
    }

    @Test
    void everyTemplateHasGoldensAndTheRealTemplatesAreThere() throws Exception {
        List<String> covered = new ArrayList<>();
        for (Path file : goldenFiles()) if (read(file).has("template")) covered.add(text(read(file), "template"));
        try (Stream<Path> templates = Files.list(resources())) {
            List<String> all = templates.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".jinja")).sorted().toList();
            assertEquals(all, covered.stream().sorted().toList(), "a golden file per template");
        }
        for (String model : List.of("llama-2-chat", "llama-3-instruct", "llama-3.1-instruct", "mistral-7b-instruct-v0.1",
                "mistral-7b-instruct-v0.3", "qwen2.5-instruct", "gemma-it")) {
            assertTrue(covered.contains(model + ".jinja"), model);
        }
    }
}
