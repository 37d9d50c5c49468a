package org.gpt4llm.gguf;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A LLaMA SentencePiece (BPE) vocabulary — pieces, scores and piece types, as in {@code tokenizer.model}
 * or a GGUF's {@code tokenizer.ggml.*} — as the HF {@code tokenizer.json} that transformers'
 * {@code LlamaConverter} builds from it: a BPE model with byte fallback whose merges are every split
 * of a piece into two pieces, ranked by the merged piece's score (highest first; ties by the ids of
 * the left, then the right part); a normalizer that prepends ▁ and turns spaces into ▁; no
 * pre-tokenizer; and a decoder that undoes both and fuses byte-fallback tokens.
 */
public final class SentencePieceJson {
    /** SentencePiece piece types (sentencepiece_model.proto), as GGUF's tokenizer.ggml.token_type stores them. */
    public static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;
    static final String SPACE = "\u2581";
    private static final ObjectMapper JSON = new ObjectMapper();

    private SentencePieceJson() {
    }

    /** A vocabulary: {@code pieces[id]} with its score and type, the ids of the special tokens, and whether BOS/EOS are added. */
    public record Vocabulary(List<String> pieces, float[] scores, int[] types, int unkId, int bosId, int eosId,
                             boolean addBos, boolean addEos) {
        public Vocabulary {
            int n = pieces.size();
            if (scores.length != n || types.length != n) {
                throw new IllegalArgumentException(n + " tokens but " + scores.length + " scores and " + types.length + " token types");
            }
            for (int id : new int[] {unkId, bosId, eosId}) {
                if (id < 0 || id >= n) throw new IllegalArgumentException("special token id " + id + " is outside the vocabulary of " + n);
            }
        }
    }

    /** The HF tokenizer.json of {@code v}; a duplicate or empty piece is an error naming it. */
    public static ObjectNode tokenizerJson(Vocabulary v) {
        List<String> pieces = v.pieces();
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < pieces.size(); id++) {
            String p = pieces.get(id);
            if (p.isEmpty()) throw new IllegalArgumentException("token " + id + " is the empty string");
            Integer other = ids.putIfAbsent(p, id);
            if (other != null) throw new IllegalArgumentException("token \"" + p + "\" appears twice, at ids " + other + " and " + id);
        }
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < pieces.size(); id++) {
            int type = v.types()[id];
            boolean special = type == UNKNOWN || type == CONTROL || id == v.unkId() || id == v.bosId() || id == v.eosId();
            // user-defined pieces are matched whole, as SentencePiece does, but are not special (they decode)
            if (!special && type != USER_DEFINED) continue;
            added.addObject().put("id", id).put("content", pieces.get(id)).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", true).put("special", special);
        }
        ObjectNode normalizer = root.putObject("normalizer");
        normalizer.put("type", "Sequence");
        ArrayNode norms = normalizer.putArray("normalizers");
        norms.addObject().put("type", "Prepend").put("prepend", SPACE);
        norms.add(replace(" ", SPACE));
        root.putNull("pre_tokenizer");
        root.set("post_processor", template(v));
        ObjectNode decoder = root.putObject("decoder");
        decoder.put("type", "Sequence");
        ArrayNode decs = decoder.putArray("decoders");
        decs.add(replace(SPACE, " "));
        decs.addObject().put("type", "ByteFallback");
        decs.addObject().put("type", "Fuse");
        decs.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", pieces.get(v.unkId()));
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < pieces.size(); id++) vocab.put(pieces.get(id), id);
        ArrayNode merges = model.putArray("merges");
        for (String m : merges(pieces, v.scores(), ids)) merges.add(m);
        return root;
    }

    /**
     * Every way to split a piece into two pieces, as "left right", ranked by the piece's score
     * (highest first), ties by the left part's id, then the right part's. Splits fall between code
     * points, never inside a surrogate pair.
     */
    static List<String> merges(List<String> pieces, float[] scores, Map<String, Integer> ids) {
        record Merge(float score, int left, int right) {}
        List<Merge> all = new ArrayList<>();
        for (int id = 0; id < pieces.size(); id++) {
            String p = pieces.get(id);
            for (int cut = p.offsetByCodePoints(0, 1); cut < p.length(); cut = p.offsetByCodePoints(cut, 1)) {
                Integer l = ids.get(p.substring(0, cut)), r = ids.get(p.substring(cut));
                // + 0f folds -0.0 into 0.0: the scores compare as numbers, as in Python
                if (l != null && r != null) all.add(new Merge(scores[id] + 0f, l, r));
            }
        }
        all.sort((a, b) -> a.score() != b.score() ? Float.compare(b.score(), a.score())
                : a.left() != b.left() ? Integer.compare(a.left(), b.left()) : Integer.compare(a.right(), b.right()));
        List<String> out = new ArrayList<>(all.size());
        for (Merge m : all) out.add(pieces.get(m.left()) + " " + pieces.get(m.right()));
        return out;
    }

    /** tokenizer_config.json: the special tokens by name and whether BOS/EOS are added, as LlamaTokenizer saves it. */
    public static ObjectNode tokenizerConfig(Vocabulary v, int padId, int maxLength) {
        ObjectNode c = JSON.createObjectNode();
        c.put("add_bos_token", v.addBos());
        c.put("add_eos_token", v.addEos());
        c.put("bos_token", v.pieces().get(v.bosId()));
        c.put("eos_token", v.pieces().get(v.eosId()));
        c.put("unk_token", v.pieces().get(v.unkId()));
        if (padId >= 0 && padId < v.pieces().size()) c.put("pad_token", v.pieces().get(padId));
        else c.putNull("pad_token");
        c.put("clean_up_tokenization_spaces", false);
        c.put("model_max_length", maxLength);
        c.put("tokenizer_class", "LlamaTokenizer");
        return c;
    }

    /** [BOS] $seq [EOS], with the BOS/EOS the vocabulary adds. */
    private static void addSequence(ArrayNode a, Vocabulary v, String seq, int typeId) {
        if (v.addBos()) a.addObject().putObject("SpecialToken").put("id", v.pieces().get(v.bosId())).put("type_id", typeId);
        a.addObject().putObject("Sequence").put("id", seq).put("type_id", typeId);
        if (v.addEos()) a.addObject().putObject("SpecialToken").put("id", v.pieces().get(v.eosId())).put("type_id", typeId);
    }

    private static ObjectNode replace(String pattern, String content) {
        ObjectNode r = JSON.createObjectNode();
        r.put("type", "Replace");
        r.putObject("pattern").put("String", pattern);
        r.put("content", content);
        return r;
    }

    /** What encoding with special tokens adds: BOS before (and EOS after) each sequence, as the vocabulary says. */
    private static ObjectNode template(Vocabulary v) {
        String bos = v.pieces().get(v.bosId()), eos = v.pieces().get(v.eosId());
        ObjectNode t = JSON.createObjectNode();
        t.put("type", "TemplateProcessing");
        ArrayNode single = t.putArray("single"), pair = t.putArray("pair");
        addSequence(single, v, "A", 0);
        addSequence(pair, v, "A", 0);
        addSequence(pair, v, "B", 1);
        ObjectNode specials = t.putObject("special_tokens");
        if (v.addBos()) specials.putObject(bos).put("id", bos).<ObjectNode>set("ids", JSON.createArrayNode().add(v.bosId()))
                .set("tokens", JSON.createArrayNode().add(bos));
        if (v.addEos()) specials.putObject(eos).put("id", eos).<ObjectNode>set("ids", JSON.createArrayNode().add(v.eosId()))
                .set("tokens", JSON.createArrayNode().add(eos));
        return t;
    }
}
