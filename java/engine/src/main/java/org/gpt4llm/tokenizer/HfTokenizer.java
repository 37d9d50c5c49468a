package org.gpt4llm.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

/**
 * An HF {@code tokenizer.json} run by the HF tokenizers library itself (Rust, through DJL's JNI
 * binding), so ids are exactly what transformers' fast tokenizers give. Built by {@link Tokenizers#load}.
 */
public final class HfTokenizer implements Tokenizer {
    private final HuggingFaceTokenizer hf;
    private final int vocabSize;
    private final int bos;
    private final int eos;
    private final int pad;

    HfTokenizer(HuggingFaceTokenizer hf, int vocabSize, int bos, int eos, int pad) {
        this.hf = hf;
        this.vocabSize = vocabSize;
        this.bos = bos;
        this.eos = eos;
        this.pad = pad;
    }

    @Override
    public int[] encode(String text) {
        long[] ids = hf.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] wide = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[i] + " is outside the vocabulary of " + vocabSize);
            }
            wide[i] = ids[i];
        }
        return hf.decode(wide, true);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int bosId() {
        return bos;
    }

    @Override
    public int eosId() {
        return eos;
    }

    @Override
    public int padId() {
        return pad;
    }

    @Override
    public void close() {
        hf.close();
    }
}
