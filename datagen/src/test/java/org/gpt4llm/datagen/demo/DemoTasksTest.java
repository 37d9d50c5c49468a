package org.gpt4llm.datagen.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The demo task family: deterministic, evenly mixed, distinct, and every answer is what {@code solve} computes. */
class DemoTasksTest {
    @Test
    void solveAnswersEveryGeneratedTaskOverManySeeds() {
        int checked = 0;
        for (long seed = 0; seed < 40; seed++) {
            for (DemoTask t : DemoTasks.generate(200, seed)) {
                assertEquals(Optional.of(t.answer()), DemoTasks.solve(t.instruction(), t.input()), t.toString());
                assertEquals(Optional.of(t.category()), DemoTasks.categoryOf(t.instruction()), t.toString());
                assertTrue(t.answer().length() <= DemoTasks.MAX_ANSWER_CHARS, t.toString());
                assertFalse(t.answer().isBlank(), t.toString());
                checked++;
            }
        }
        assertEquals(8000, checked);
    }

    @Test
    void handCheckedAnswers() {
        assertEquals(Optional.of("95"), DemoTasks.solve("Add the two numbers.", "37, 58"));
        assertEquals(Optional.of("45"), DemoTasks.solve("What is the first number minus the second?", "73, 28"));
        assertEquals(Optional.of("nedrag"), DemoTasks.solve("Spell the word backwards.", "garden"));
        assertEquals(Optional.of("1, 3, 7, 7, 12"), DemoTasks.solve("Sort the numbers in ascending order.", "7, 12, 3, 7, 1"));
        assertEquals(Optional.of("3"), DemoTasks.solve("How many times does the given letter appear in the word?", "letter e, word excellent"));
        assertEquals(Optional.of("0"), DemoTasks.solve("Count how many times the letter occurs in the word.", "letter z, word apple"));
        assertEquals(Optional.of("RED APPLE"), DemoTasks.solve("Write the words in capital letters.", "red apple"));
        assertEquals(Optional.of("14/07/2023"), DemoTasks.solve("Write this date as DD/MM/YYYY.", "2023-07-14"));
        assertEquals(Optional.of("hbrd"), DemoTasks.solve("Give the initials of the words.", "happy blue river dog"));
        // phrasings are recognised whatever their case and surrounding blanks
        assertEquals(Optional.of("5"), DemoTasks.solve("  add the two numbers. ", "2, 3"));
    }

    @Test
    void solveIsEmptyForUnrelatedTextAndInputsThatDoNotFit() {
        assertEquals(Optional.empty(), DemoTasks.solve("Give three tips for staying healthy.", ""));
        assertEquals(Optional.empty(), DemoTasks.solve("Add the two numbers", "2, 3")); // not a phrasing: no full stop
        assertEquals(Optional.empty(), DemoTasks.solve("What is the capital of France?", "Paris"));
        assertEquals(Optional.empty(), DemoTasks.solve("Add the two numbers.", "two and three"));
        assertEquals(Optional.empty(), DemoTasks.solve("Write this date as DD/MM/YYYY.", "2023-02-30"));
        assertEquals(Optional.empty(), DemoTasks.solve("Spell the word backwards.", "two words"));
        assertEquals(Optional.empty(), DemoTasks.solve("Sort the numbers in ascending order.", "3, x, 1"));
        assertEquals(Optional.empty(), DemoTasks.solve("", ""));
        assertEquals(Optional.empty(), DemoTasks.solve(null, "1, 2"));
    }

    @Test
    void generateIsDeterministicDistinctAndEvenlyMixed() {
        List<DemoTask> a = DemoTasks.generate(400, 7), b = DemoTasks.generate(400, 7), c = DemoTasks.generate(400, 8);
        assertEquals(a, b);
        assertNotEquals(a, c);
        assertEquals(400, DemoTasks.keys(a).size(), "no (instruction, input) twice");
        for (int i = 0; i < a.size(); i++) assertEquals("demo-7-" + i, a.get(i).id());
        Map<String, Integer> perCategory = new HashMap<>();
        Set<String> phrasings = new HashSet<>();
        for (DemoTask t : a) {
            perCategory.merge(t.category(), 1, Integer::sum);
            phrasings.add(t.instruction());
        }
        assertEquals(Set.copyOf(DemoTasks.categories()), perCategory.keySet());
        assertTrue(DemoTasks.categories().size() >= 6);
        for (int count : perCategory.values()) assertEquals(400 / DemoTasks.categories().size(), count, perCategory.toString());
        int allPhrasings = DemoTasks.categories().stream().mapToInt(k -> DemoTasks.phrasings(k).size()).sum();
        assertEquals(allPhrasings, phrasings.size(), "every phrasing is used");
        assertEquals(List.of(), DemoTasks.generate(0, 1));
    }

    @Test
    void aHeldOutSetExcludesTheTrainingSet() {
        List<DemoTask> train = DemoTasks.generate(3000, 1);
        Set<String> trainKeys = DemoTasks.keys(train);
        List<DemoTask> heldOut = DemoTasks.generate(300, 2, trainKeys);
        assertEquals(300, heldOut.size());
        for (DemoTask t : heldOut) assertFalse(trainKeys.contains(t.key()), t.toString());
        // without the exclusion the same seed does overlap, so the exclusion is what keeps them apart
        Set<String> plain = DemoTasks.keys(DemoTasks.generate(300, 2));
        plain.retainAll(trainKeys);
        assertFalse(plain.isEmpty());
    }

    @Test
    void tooManyTasksIsOneClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DemoTasks.generate(100_000, 3));
        assertTrue(e.getMessage().contains("has no distinct tasks left") && e.getMessage().contains("ask for fewer"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DemoTasks.generate(-1, 3));
    }
}
