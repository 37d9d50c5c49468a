package org.gpt4llm.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.data.RewardDataset;
import org.gpt4llm.data.RewardEncoder;
import org.gpt4llm.data.ScoredGroup;
import org.gpt4llm.data.Template;
import org.gpt4llm.generate.AnswerFile;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.Generator;
import org.gpt4llm.generate.PromptFormat;
import org.gpt4llm.generate.Questions;
import org.gpt4llm.generate.Questions.Question;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm generate}: answers to a question file as FastChat answer records (one JSONL line per
 * question: question_id, answer_id, model_id, text, metadata, tstamp), appended batch by batch and
 * resumable. With {@code --n K --rerank RM} each question gets K samples ranked by a reward model: the
 * main file holds the best, {@code <out>-top1.jsonl .. -topK.jsonl} the k-th best of every question.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Answer a question file (Vicuna, user-oriented instructions or Alpaca) with a model, as FastChat answer records.")
public final class GenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Mixin
    ModelFlag model = new ModelFlag();

    @Option(names = "--adapter", description = "a LoRA adapter folder (PEFT) to apply")
    Path adapter;

    @Option(names = "--questions", required = true, description = "question file: Vicuna {question_id, text}, user-oriented {id, instruction, instances} or Alpaca JSON/JSONL")
    Path questions;

    @Mixin
    OutFlag out = new OutFlag();

    @Option(names = "--template", description = "prompt: alpaca, plain, chat, or model (the tokenizer_config.json chat_template); default alpaca")
    String template = "alpaca";

    @Option(names = "--temperature", description = "0 is greedy (default 0.7)")
    float temperature = 0.7f;

    @Option(names = "--top-p", description = "nucleus sampling mass (default 1)")
    float topP = 1f;

    @Option(names = "--top-k", description = "keep the k most likely tokens, 0 for all (default 0)")
    int topK = 0;

    @Option(names = "--repetition-penalty", description = "CTRL's penalty, 1 for none (default 1)")
    float repetitionPenalty = 1f;

    @Option(names = "--max-new-tokens", description = "tokens per answer at most (default 512)")
    int maxNewTokens = 512;

    @Option(names = "--stop", description = "a string that ends an answer (repeatable)")
    List<String> stop = new ArrayList<>();

    @Option(names = "--seed", description = "sampling seed: each answer's seed derives from it and the question id (default 0)")
    long seed = 0;

    @Option(names = "--batch", description = "sequences decoded together (default 8)")
    int batch = 8;

    @Option(names = "--limit", description = "answer only the first N questions of the file")
    Integer limit;

    @Option(names = "--n", description = "samples per question, ranked by --rerank (default 1)")
    int n = 1;

    @Option(names = "--rerank", description = "reward model folder (gpt4llm rm) that ranks the --n samples")
    Path rerank;

    @Option(names = "--rm-template", description = "how the reward model saw prompts in training: alpaca, plain or chat (default alpaca)")
    String rmTemplate = "alpaca";

    @Option(names = "--rm-max-len", description = "tokens per row the reward model reads, cut as in training (default 512)")
    int rmMaxLen = 512;

    @Mixin
    BackendFlags backend = new BackendFlags();

    @Option(names = "--model-id", description = "model_id of the records (default: the adapter's or model's folder name)")
    String modelId;

    @Override
    public Integer call() throws IOException {
        check();
        Path modelDir = model.folder(), outFile = out.file();
        if (rerank != null) ModelFlag.requireModelFolder("--rerank", rerank);
        Template rmT = rerank == null ? null : Template.parse(rmTemplate);
        List<Question> all = Questions.read(questions);
        if (limit != null) all = all.subList(0, Math.min(limit, all.size()));
        Set<String> done = new HashSet<>();
        List<Path> groupFiles = new ArrayList<>();
        if (rerank != null) for (int k = 1; k <= n; k++) groupFiles.add(groupFile(outFile, k));
        ModelConfig cfg = ModelConfig.read(modelDir.resolve("config.json"));
        String id = modelId != null ? modelId : (adapter != null ? adapter : modelDir).toAbsolutePath().normalize().getFileName().toString();
        try (AnswerFile main = AnswerFile.resume(outFile, done);
             HfTokenizer tok = Tokenizers.load(modelDir, cfg.vocabSize());
             Backend be = backend.open();
             DecoderModel dm = DecoderModel.load(be, modelDir);
             RewardModel rm = rerank == null ? null : RewardModel.loadTrained(be, rerank, tok.padId());
             HfTokenizer rmTok = rerank == null ? null : Tokenizers.load(rerank, rm.config().vocabSize())) {
            if (adapter != null) dm.loadAdapter(adapter);
            PromptFormat format = PromptFormat.parse(template, modelDir);
            // the main file records which questions are finished; group files are cut back to match it
            List<AnswerFile> groups = new ArrayList<>();
            try {
                for (Path g : groupFiles) {
                    AnswerFile.repair(g, done);
                    groups.add(AnswerFile.resume(g, new HashSet<>()));
                }
                List<Question> todo = all.stream().filter(q -> !done.contains(q.key())).toList();
                System.out.printf(Locale.ROOT, "%d questions, %d already answered in %s, %d to go%n", all.size(),
                        all.size() - todo.size(), outFile, todo.size());
                Generator gen = new Generator(dm, tok, batch, 0); // KV-cache decoding
                RewardEncoder enc = rm == null ? null : new RewardEncoder(rmTok, rmT, rmMaxLen);
                int perBatch = Math.max(1, batch / n), answered = 0;
                for (int from = 0; from < todo.size(); from += perBatch) {
                    List<Question> qs = todo.subList(from, Math.min(todo.size(), from + perBatch));
                    List<GenerationRequest> reqs = new ArrayList<>();
                    for (Question q : qs) {
                        int[] prompt = format.encode(tok, q.instruction(), q.input());
                        for (int k = 0; k < n; k++) reqs.add(new GenerationRequest(prompt, params(q, k)));
                    }
                    List<Completion> got = gen.generate(reqs, TokenListener.NONE);
                    float[][] rewards = rm == null ? null : score(rm, enc, rmTok.padId(), qs, got);
                    List<ObjectNode> best = new ArrayList<>();
                    List<List<ObjectNode>> ranked = new ArrayList<>();
                    for (int k = 0; k < groups.size(); k++) ranked.add(new ArrayList<>());
                    for (int qi = 0; qi < qs.size(); qi++) {
                        Integer[] order = new Integer[n];
                        for (int k = 0; k < n; k++) order[k] = k;
                        if (rewards != null) {
                            float[] r = rewards[qi];
                            Arrays.sort(order, Comparator.comparingDouble(k -> -r[k]));
                        }
                        for (int rank = 0; rank < n; rank++) {
                            int k = order[rank];
                            ObjectNode rec = record(qs.get(qi), id, reqs.get(qi * n + k).params(), got.get(qi * n + k));
                            if (rewards != null) {
                                ObjectNode meta = (ObjectNode) rec.get("metadata");
                                meta.put("reward", rewards[qi][k]);
                                meta.put("rank", rank + 1);
                                ArrayNode rs = meta.putArray("rewards");
                                for (Integer o : order) rs.add(rewards[qi][o]);
                                ranked.get(rank).add(rec);
                            }
                            if (rank == 0) best.add(rec);
                        }
                    }
                    for (int k = 0; k < groups.size(); k++) groups.get(k).write(ranked.get(k));
                    main.write(best);
                    answered += qs.size();
                    System.out.printf(Locale.ROOT, "%d/%d answered%n", answered, todo.size());
                }
            } finally {
                for (AnswerFile g : groups) g.close();
            }
        }
        return 0;
    }

    private void check() {
        if (batch < 1) throw new IllegalArgumentException("--batch must be positive, got " + batch);
        if (n < 1) throw new IllegalArgumentException("--n must be positive, got " + n);
        if (n > 1 && rerank == null) throw new IllegalArgumentException("--n " + n + " needs --rerank to rank the samples");
        if (limit != null && limit < 0) throw new IllegalArgumentException("--limit must not be negative, got " + limit);
        if (n > 1 && temperature == 0f) {
            throw new IllegalArgumentException("--n " + n + " with --temperature 0 would give " + n + " identical answers");
        }
        params(new Question(JSON.getNodeFactory().numberNode(0), "", "", ""), 0); // flag ranges, checked once
    }

    /** Sample k of a question: its seed derives from --seed and the question id, so a resumed run draws the same. */
    SamplingParams params(Question q, int k) {
        long s = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * q.key().hashCode())).nextLong() + k;
        try {
            return new SamplingParams(maxNewTokens, temperature, topK, topP, repetitionPenalty, stop, true, s);
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            String flag = m.startsWith("temperature") ? "--temperature" : m.startsWith("top-k") ? "--top-k"
                    : m.startsWith("top-p") ? "--top-p" : m.startsWith("repetition") ? "--repetition-penalty" : "--max-new-tokens";
            throw new IllegalArgumentException(flag + ": " + m);
        }
    }

    /** The rewards of every question's samples, [question][sample]. */
    private float[][] score(RewardModel rm, RewardEncoder enc, int pad, List<Question> qs, List<Completion> got) {
        List<org.gpt4llm.data.EncodedGroup> enc2 = new ArrayList<>();
        for (int qi = 0; qi < qs.size(); qi++) {
            Question q = qs.get(qi);
            List<String> texts = new ArrayList<>();
            List<String> sources = new ArrayList<>();
            for (int k = 0; k < n; k++) {
                texts.add(got.get(qi * n + k).text());
                sources.add("");
            }
            float[] none = new float[n];
            Arrays.fill(none, Float.NaN);
            enc2.add(enc.encode(new ScoredGroup(new RecordRef(questions, qi, 0), "", List.of(), q.instruction(), q.input(),
                    texts, none, sources)));
        }
        return new RewardDataset(enc2, pad).rewards(rm, Math.max(1, batch / n)).toArray(float[][]::new);
    }

    private ObjectNode record(Question q, String id, SamplingParams p, Completion c) {
        ObjectNode r = JSON.createObjectNode();
        r.set("question_id", q.id());
        r.put("answer_id", AnswerFile.answerId());
        r.put("model_id", id);
        r.put("text", c.text());
        ObjectNode m = r.putObject("metadata");
        m.put("template", template);
        m.put("temperature", p.temperature());
        m.put("top_p", p.topP());
        m.put("top_k", p.topK());
        m.put("repetition_penalty", p.repetitionPenalty());
        m.put("max_new_tokens", p.maxNewTokens());
        ArrayNode s = m.putArray("stop");
        p.stop().forEach(s::add);
        m.put("seed", p.seed());
        m.put("finish_reason", c.finishReason());
        m.put("tokens", c.tokens().length);
        m.put("prompt_tokens", c.promptTokens());
        r.put("tstamp", java.math.BigDecimal.valueOf(System.currentTimeMillis(), 3)); // seconds, as Python's time.time()
        return r;
    }

    /** {@code answers.jsonl} → {@code answers-top<k>.jsonl}, next to it. */
    static Path groupFile(Path out, int k) {
        String name = out.getFileName().toString();
        String base = name.endsWith(".jsonl") ? name.substring(0, name.length() - 6) : name;
        return out.resolveSibling(base + "-top" + k + ".jsonl");
    }
}
