package org.gpt4llm.eval.stats;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.Set;
import opennlp.tools.lemmatizer.LemmatizerME;
import opennlp.tools.lemmatizer.LemmatizerModel;
import opennlp.tools.postag.POSModel;
import opennlp.tools.postag.POSTagFormat;
import opennlp.tools.postag.POSTaggerME;
import opennlp.tools.sentdetect.SentenceDetectorME;
import opennlp.tools.sentdetect.SentenceModel;
import opennlp.tools.tokenize.TokenizerME;
import opennlp.tools.tokenize.TokenizerModel;

/**
 * The verb–noun pair of a text as Self-Instruct's analysis (and the paper's Fig. 1) takes it: the
 * root verb of the first sentence and the noun of its direct object, both lemmatized.
 *
 * <p>Self-Instruct reads these off a dependency parse. OpenNLP's English models (UD English EWT,
 * {@code opennlp-models-*-en} 1.3.0) are a sentence detector, tokenizer, POS tagger and lemmatizer
 * only: there is no dependency parser and no chunker. So this is an approximation from POS tags:
 * <ul>
 *   <li>verb: the first token tagged {@code VERB} that does not follow a determiner ("the
 *       <i>following</i> list" is a modifier); UD keeps auxiliaries and copulas as {@code AUX}, so
 *       "What is X?" has none;</li>
 *   <li>object: the noun phrase that starts right after the verb — optionally after one object
 *       pronoun ("Give <i>me</i> three tips") — made of determiners, numbers, adjectives, possessive
 *       pronouns and adverbs inside it, then a run of nouns; its head is the run's last token, which
 *       must be a common noun ("a <i>marketing plan</i>" → plan).</li>
 * </ul>
 * The tagger misses sentence-initial imperatives: the first word is tagged lower-cased, and a first
 * word still tagged noun/adjective/interjection but followed by a determiner, number or object
 * pronoun ("Sort the list", "Name three ...") is taken as the verb. The lemmatizer's vocabulary is
 * what it is ("raining" stays "raining").
 * A clause opened by "Given ..., " is skipped up to its comma. Where a parser would attach the
 * object elsewhere (other clause-initial participles, a verb inside a subordinate clause) this
 * takes the first verb instead.
 * Not thread-safe (OpenNLP's taggers keep state): one extractor per thread.
 */
public final class VerbNounExtractor {
    /** A text's verb and its object noun, lemmatized and lower-case; either may be absent (null). */
    public record VerbNoun(String verb, String noun) {
        public static final VerbNoun NONE = new VerbNoun(null, null);

        public boolean hasPair() {
            return verb != null && noun != null;
        }
    }

    /** Pronouns that can stand between a verb and its object (indirect objects, possessives); never wh-words. */
    private static final Set<String> OBJECT_PRONOUNS = Set.of(
            "me", "us", "him", "her", "them", "you", "it", "my", "your", "our", "their", "his", "its");

    private final SentenceDetectorME sentences;
    private final TokenizerME tokenizer;
    private final POSTaggerME tagger;
    private final LemmatizerME lemmatizer;

    public VerbNounExtractor() {
        sentences = new SentenceDetectorME(VerbNounExtractor.<SentenceModel>load("opennlp-en-ud-ewt-sentence-1.3-2.5.4.bin", SentenceModel::new));
        tokenizer = new TokenizerME(VerbNounExtractor.<TokenizerModel>load("opennlp-en-ud-ewt-tokens-1.3-2.5.4.bin", TokenizerModel::new));
        tagger = new POSTaggerME(VerbNounExtractor.<POSModel>load("opennlp-en-ud-ewt-pos-1.3-2.5.4.bin", POSModel::new), POSTagFormat.UD);
        lemmatizer = new LemmatizerME(load("opennlp-en-ud-ewt-lemmas-1.3-2.5.4.bin", LemmatizerModel::new));
    }

    public VerbNoun extract(String text) {
        if (text == null || text.isBlank()) return VerbNoun.NONE;
        String[] sents = sentences.sentDetect(text.strip());
        if (sents.length == 0) return VerbNoun.NONE;
        String[] tokens = tokenizer.tokenize(sents[0]);
        if (tokens.length == 0) return VerbNoun.NONE;
        // the tagger learned imperatives mostly mid-sentence: sentence-initial "Explain" comes out SCONJ, "Classify" PROPN
        String[] tagged = tokens.clone();
        tagged[0] = lowerInitial(tokens[0]);
        String[] tags = tagger.tag(tagged);
        if (tokens.length > 1 && isMistaggedImperative(tags[0], tags[1], tokens[1])) tags[0] = "VERB";

        int v = 0;
        // "the following list", "a given text": a participle after a determiner modifies a noun, it is not the verb
        while (v < tokens.length && !(tags[v].equals("VERB") && (v == 0 || !tags[v - 1].equals("DET")))) v++;
        // "Given the input, classify it": the clause before the comma is not the instruction's verb
        if (v < tokens.length && tokens[v].equalsIgnoreCase("given")) {
            int comma = v + 1;
            while (comma < tokens.length && !tokens[comma].equals(",")) comma++;
            if (comma < tokens.length) {
                v = comma + 1;
                while (v < tokens.length && !(tags[v].equals("VERB") && !tags[v - 1].equals("DET"))) v++;
            }
        }
        if (v == tokens.length) return VerbNoun.NONE;
        String verb = lemma(tagged[v], tags[v]);

        int i = v + 1;
        // "Give me three tips": skip an indirect-object pronoun when a noun phrase follows it
        if (i < tokens.length && tags[i].equals("PRON") && isObjectPronoun(tokens[i]) && i + 1 < tokens.length
                && startsNounPhrase(tags[i + 1])) {
            i++;
        }
        boolean modified = false;
        // inside a phrase an adverb or a participle modifies ("a very short story", "the following article")
        while (i < tokens.length && (isModifier(tags[i], tokens[i])
                || (modified && (tags[i].equals("ADV") || tags[i].equals("VERB"))))) {
            modified = true;
            i++;
        }
        int head = -1;
        while (i < tokens.length && (tags[i].equals("NOUN") || tags[i].equals("PROPN"))) head = i++;
        if (head < 0 || !tags[head].equals("NOUN")) return new VerbNoun(verb, null);
        return new VerbNoun(verb, lemma(tagged[head], tags[head]));
    }

    /** "Explain" → "explain"; acronyms and one-letter words stay as they are. */
    private static String lowerInitial(String token) {
        if (token.length() < 2 || !Character.isUpperCase(token.charAt(0))) return token;
        String rest = token.substring(1);
        return rest.equals(rest.toLowerCase(Locale.ROOT)) ? token.toLowerCase(Locale.ROOT) : token;
    }

    private static boolean startsNounPhrase(String tag) {
        return switch (tag) {
            case "DET", "NUM", "ADJ", "NOUN", "PROPN" -> true;
            default -> false;
        };
    }

    private static boolean isModifier(String tag, String token) {
        return switch (tag) {
            case "DET", "NUM", "ADJ" -> true;
            case "PRON" -> isObjectPronoun(token);
            default -> false;
        };
    }

    private static boolean isObjectPronoun(String token) {
        return OBJECT_PRONOUNS.contains(token.toLowerCase(Locale.ROOT));
    }

    /**
     * A word's lemma, lower-case; the word itself where the lemmatizer has none ("O"). One word at a
     * time: lemmatizing only the two words wanted is what keeps a thousand texts within seconds.
     */
    private String lemma(String token, String tag) {
        String lemma = lemmatizer.lemmatize(new String[] {token}, new String[] {tag})[0];
        String s = lemma == null || lemma.isEmpty() || lemma.equals("O") ? token : lemma;
        return s.toLowerCase(Locale.ROOT);
    }

    /**
     * "Sort the list", "Name three countries", "Help me ...": a first word tagged as a noun, adjective
     * or interjection yet followed straight by a determiner, number or object pronoun can only be an
     * imperative verb (the tagger often misses sentence-initial imperatives, even lower-cased).
     */
    private static boolean isMistaggedImperative(String firstTag, String nextTag, String nextToken) {
        boolean notVerb = switch (firstTag) {
            case "NOUN", "PROPN", "ADJ", "INTJ" -> true;
            default -> false;
        };
        return notVerb && (nextTag.equals("DET") || nextTag.equals("NUM") || (nextTag.equals("PRON") && isObjectPronoun(nextToken)));
    }

    private interface ModelReader<M> {
        M read(InputStream in) throws IOException;
    }

    /** A model from the {@code opennlp-models-*-en} jars on the class path. */
    private static <M> M load(String resource, ModelReader<M> reader) {
        try (InputStream in = VerbNounExtractor.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("OpenNLP model " + resource + " is not on the class path");
            return reader.read(in);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read OpenNLP model " + resource, e);
        }
    }
}
