package org.gpt4llm.bench.jmh;

/** Fixed, typical inputs of the micro-benchmarks: one Alpaca-style record and a second answer to it. */
final class Samples {
    private Samples() {}

    static final String INSTRUCTION = "Summarize the following paragraph in two sentences and list three key terms.";

    static final String INPUT = "Photosynthesis is the process by which green plants, algae and some bacteria convert"
            + " light energy into chemical energy. Using sunlight, water and carbon dioxide, they produce glucose and"
            + " release oxygen as a by-product. The process takes place mainly in the chloroplasts of leaf cells, where"
            + " the pigment chlorophyll absorbs red and blue light.";

    /** A reference answer of typical length (about 120 words). */
    static final String ANSWER = "Photosynthesis lets plants, algae and some bacteria turn light energy into chemical"
            + " energy, making glucose from sunlight, water and carbon dioxide while releasing oxygen. It happens mostly"
            + " in the chloroplasts of leaf cells, where chlorophyll absorbs red and blue light to power the reaction.\n\n"
            + "Key terms:\n1. Photosynthesis: the conversion of light energy into chemical energy.\n"
            + "2. Chloroplast: the organelle in which the process takes place.\n"
            + "3. Chlorophyll: the green pigment that absorbs the light needed for the process.";

    /** Another model's answer to the same task, for ROUGE-L against {@link #ANSWER}. */
    static final String PREDICTION = "Green plants and some microorganisms use photosynthesis to convert sunlight into"
            + " chemical energy, producing glucose and oxygen from water and carbon dioxide. The reaction mainly occurs in"
            + " chloroplasts, whose chlorophyll captures red and blue light.\n\nThree key terms: photosynthesis, the process"
            + " itself; chloroplast, the part of the cell where it happens; and chlorophyll, the pigment that absorbs the"
            + " light energy that drives the whole process.";
}
