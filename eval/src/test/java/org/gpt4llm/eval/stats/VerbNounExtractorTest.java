package org.gpt4llm.eval.stats;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.gpt4llm.eval.stats.VerbNounExtractor.VerbNoun;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class VerbNounExtractorTest {
    static VerbNounExtractor extractor;

    @BeforeAll
    static void load() {
        extractor = new VerbNounExtractor();
    }

    @ParameterizedTest(name = "{0} -> ({1}, {2})")
    @CsvSource(delimiter = '|', nullValues = "-", value = {
            "Write a poem about cats.|write|poem",
            "Give three tips for staying healthy.|give|tip",
            "Give me three tips for staying healthy.|give|tip",
            "Generate a list of ten fruits.|generate|list",
            "Create a marketing plan for a new bakery.|create|plan",
            "Describe your favorite book in two sentences.|describe|book",
            "Summarize the following article. It is long.|summarize|article",
            "Explain the difference between weather and climate.|explain|difference",
            "Rewrite the sentences in the passive voice.|rewrite|sentence",
            "Find the synonyms of happy.|find|synonym",
            "Sort the following list of names alphabetically.|sort|list",
            "Name three countries in Europe.|name|country",
            "Edit the following sentence: the cat sat on mat.|edit|sentence",
            "Given the following text, classify the sentiment of the review.|classify|sentiment",
            "Tell me about the French revolution.|tell|-",
            "Explain why the sky is blue.|explain|-",
            "What is the capital of France?|-|-",
            "Who was the first president of the United States?|-|-",
            "Classify the given sentences as positive or negative.|classify|sentence",
            "|-|-",
    })
    void pairOfFirstSentence(String text, String verb, String noun) {
        assertEquals(new VerbNoun(verb, noun), extractor.extract(text == null ? "" : text));
    }

    @Test
    void onlyTheFirstSentenceCounts() {
        assertEquals(new VerbNoun(null, null), extractor.extract("How are you? Write a poem."));
    }
}
