package org.gpt4llm.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import org.gpt4llm.datagen.demo.DemoTask;
import org.gpt4llm.datagen.demo.DemoTasks;
import org.gpt4llm.datagen.job.JsonRecords;
import org.gpt4llm.io.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm demo tasks}: writes instructions of the demo's rule-based task family as Alpaca JSON
 * records {@code {id, category, instruction, input}} (with {@code output}, the rule's answer, under
 * {@code --with-answers}), leaving out every (instruction, input) of the {@code --exclude} files.
 */
@Command(name = "tasks", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Write demo task instructions (Alpaca JSON), categories mixed evenly; --exclude keeps a held-out set apart.")
public final class DemoTasksCommand implements Callable<Integer> {
    @Option(names = "--n", required = true, description = "how many tasks")
    int n;

    @Option(names = "--seed", defaultValue = "0", description = "which tasks; the same seed gives the same file (default: ${DEFAULT-VALUE})")
    long seed;

    @Mixin
    OutFlag tasksFile = new OutFlag();

    @Option(names = "--with-answers", description = "add each task's answer as \"output\"")
    boolean withAnswers;

    @Option(names = "--exclude", description = "Alpaca JSON/JSONL whose (instruction, input) pairs the tasks must not repeat (repeatable)")
    List<Path> exclude = List.of();

    @Override
    public Integer call() throws IOException {
        if (n < 1) throw new IllegalArgumentException("--n must be at least 1, got " + n);
        Path out = tasksFile.file();
        Set<String> excluded = new HashSet<>();
        for (Path f : exclude) {
            for (JsonRecords.Located r : JsonRecords.read(f)) {
                excluded.add(DemoTasks.key(JsonRecords.required(r, "instruction"), JsonRecords.text(r, "input")));
            }
        }
        List<DemoTask> tasks = DemoTasks.generate(n, seed, excluded);
        ArrayNode json = JsonNodeFactory.instance.arrayNode();
        Map<String, Integer> perCategory = new LinkedHashMap<>();
        for (String c : DemoTasks.categories()) perCategory.put(c, 0);
        for (DemoTask t : tasks) {
            ObjectNode o = json.addObject().put("id", t.id()).put("category", t.category())
                    .put("instruction", t.instruction()).put("input", t.input());
            if (withAnswers) o.put("output", t.answer());
            perCategory.merge(t.category(), 1, Integer::sum);
        }
        AtomicFiles.writeJson(out, json);
        perCategory.forEach((c, k) -> System.out.printf("%-10s %5d tasks  e.g. %s%n", c, k, example(tasks, c)));
        System.out.println("wrote " + tasks.size() + " demo tasks (seed " + seed + (withAnswers ? ", with answers" : "")
                + (excluded.isEmpty() ? "" : ", " + excluded.size() + " excluded pairs avoided") + ") to " + out);
        return 0;
    }

    private static String example(List<DemoTask> tasks, String category) {
        return tasks.stream().filter(t -> t.category().equals(category)).findFirst()
                .map(t -> t.instruction() + " | " + t.input() + " -> " + t.answer()).orElse("-");
    }
}
