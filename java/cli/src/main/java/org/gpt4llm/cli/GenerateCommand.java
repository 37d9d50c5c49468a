package org.gpt4llm.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.data.RewardDataset;
import org.gpt4llm.data.RewardEncoder;
import org.gpt4llm.data.ScoredGroup;
import org.gpt4llm.data.Template;
import org.gpt4llm.datagen.run.RunSettings;
import org.gpt4llm.generate.AnswerFile;
import org.gpt4llm.generate.AnswerSettings;
import org.gpt4llm.generate.Completion;
import org.gpt4llm.generate.GenerationRequest;
import org.gpt4llm.generate.Generator;
import org.gpt4llm.generate.NonFiniteLogitsException;
import org.gpt4llm.generate.PromptFormat;
import org.gpt4llm.generate.Questions;
import org.gpt4llm.generate.Questions.Question;
import org.gpt4llm.generate.SamplingParams;
import org.gpt4llm.generate.TokenListener;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code gpt4llm generate}: answers to a question file as FastChat answer records (one JSONL line per
 * question: question_id, answer_id, model_id, text, metadata, tstamp), appended batch by batch. A
 * rerun answers only the questions whose key has no answer yet ({@link AnswerFile}), and refuses a file
 * of another model or other settings ({@link AnswerSettings}). With {@code --n K --rerank RM} each question gets K samples ranked by a reward model: the
 * main file holds the best, {@code <out>-top1.jsonl .. -topK.jsonl} the k-th best of every question.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Answer a question file (Vicuna, user-oriented instructions or Alpaca) with a model, as FastChat answer records.")
public final class GenerateCommand implements Callable<Integer> {
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

    @Mixin
    WeightTypeFlag weights = new WeightTypeFlag();

    @Option(names = "--model-id", description = "model_id of the records (default: the adapter's or model's folder name)")
    String modelId;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        check();
        Path modelDir = model.folder(), outFile = out.file();
        if (rerank != null) ModelFlag.requireRewardModelFolder("--rerank", rerank);
        Template rmT = rerank == null ? null : Template.parse(rmTemplate);
        PrintWriter err = spec.commandLine().getErr();
        List<Question> all = Questions.read(questions);
        Questions.sameContent(questions, all).forEach(note -> err.println("note: " + note));
        List<Question> asked = limit == null ? all : all.subList(0, Math.min(limit, all.size()));
        ModelConfig cfg = ModelConfig.read(modelDir.resolve("config.json"));
        String id = modelId != null ? modelId : (adapter != null ? adapter : modelDir).toAbsolutePath().normalize().getFileName().toString();
        RunSettings settings = AnswerSettings.of(id, modelDir, adapter, template, sampling(seed), seed);
        if (rerank != null) settings = AnswerSettings.reranked(settings, n, rerank, rmTemplate, rmMaxLen);
        // the main file records which questions are finished; group files are cut back to match it
        List<AnswerFile> groups = new ArrayList<>();
        try (AnswerFile main = AnswerFile.open(outFile, settings, all, err::println)) {
            try {
                if (rerank != null) {
                    for (int k = 1; k <= n; k++) groups.add(AnswerFile.openGroup(groupFile(outFile, k), settings, all, main.done(), err::println));
                }
                answer(main, groups, asked, modelDir, cfg, rmT);
            } finally {
                for (AnswerFile g : groups) g.close();
            }
        }
        return 0;
    }

    /** Answers the questions of {@code asked} that {@code main} has no answer to, each key once, batch by batch. */
    private void answer(AnswerFile main, List<AnswerFile> groups, List<Question> asked, Path modelDir, ModelConfig cfg, Template rmT)
            throws IOException {
        Set<String> done = main.done();
        long answeredBefore = asked.stream().filter(q -> done.contains(q.key())).count();
        Map<String, Question> todoByKey = new LinkedHashMap<>(); // questions asking the same are answered once
        for (Question q : asked) if (!done.contains(q.key())) todoByKey.putIfAbsent(q.key(), q);
        List<Question> todo = List.copyOf(todoByKey.values());
        System.out.printf(Locale.ROOT, "%d questions, %d already answered in %s, %d to go%s%n", asked.size(), answeredBefore,
                out.file(), asked.size() - answeredBefore, main.unmatched() == 0 ? ""
                        : "; " + main.unmatched() + " earlier answers match no question of " + questions);
        if (todo.isEmpty()) return;
        try (HfTokenizer tok = Tokenizers.load(modelDir, cfg.vocabSize());
             Backend be = backend.open(backend.name(), weights.frozen(backend.name(), modelDir));
             DecoderModel dm = DecoderModels.load(be, modelDir);
             RewardModel rm = rerank == null ? null : RewardModel.loadTrained(be, rerank, tok.padId());
             HfTokenizer rmTok = rerank == null ? null : Tokenizers.load(rerank, rm.config().vocabSize())) {
            if (adapter != null) dm.loadAdapter(adapter);
            PromptFormat format = PromptFormat.parse(template, modelDir);
            Generator gen = new Generator(dm, tok, batch, 0); // KV-cache decoding
            RewardEncoder enc = rm == null ? null : new RewardEncoder(rmTok, rmT, rmMaxLen);
            int perBatch = Math.max(1, batch / n), answered = 0;
            for (int from = 0; from < todo.size(); from += perBatch) {
                List<Question> qs = todo.subList(from, Math.min(todo.size(), from + perBatch));
                List<GenerationRequest> reqs = new ArrayList<>();
                for (Question q : qs) {
                    int[] prompt = format.encode(tok, q.instruction(), q.input());
                    for (int k = 0; k < n; k++) reqs.add(new GenerationRequest(prompt, sampling(seedOf(q, k))));
                }
                List<Completion> got = decode(gen, reqs, qs, modelDir);
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
                        ObjectNode rec = record(main, qs.get(qi), reqs.get(qi * n + k).params(), got.get(qi * n + k));
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
        }
    }

    /** The batch's completions; a model whose logits are NaN or infinite stops the run, naming it. */
    private List<Completion> decode(Generator gen, List<GenerationRequest> reqs, List<Question> qs, Path modelDir) {
        try {
            return gen.generate(reqs, TokenListener.NONE);
        } catch (NonFiniteLogitsException e) {
            throw new IllegalArgumentException(modelDir + (adapter == null ? "" : " with the adapter " + adapter)
                    + " gives NaN or infinite logits for new token " + (e.token() + 1) + " of question "
                    + qs.get(e.request() / n).idText() + ": its weights are broken or its activations overflow, so its answers"
                    + " would be noise; nothing of this batch was written", e);
        }
    }

    private void check() {
        if (batch < 1) throw new IllegalArgumentException("--batch must be positive, got " + batch);
        if (n < 1) throw new IllegalArgumentException("--n must be positive, got " + n);
        if (n > 1 && rerank == null) throw new IllegalArgumentException("--n " + n + " needs --rerank to rank the samples");
        if (limit != null && limit < 0) throw new IllegalArgumentException("--limit must not be negative, got " + limit);
        if (n > 1 && temperature == 0f) {
            throw new IllegalArgumentException("--n " + n + " with --temperature 0 would give " + n + " identical answers");
        }
        sampling(seed); // flag ranges, checked once
    }

    /**
     * Sample k of a question: its seed derives from --seed and the question (its own id, else its key),
     * so a resumed or re-ordered run draws the same.
     */
    long seedOf(Question q, int k) {
        String basis = q.ownId() ? q.idText() : q.key();
        return new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * basis.hashCode())).nextLong() + k;
    }

    /** The flags' sampling with the seed {@code sampleSeed}. */
    SamplingParams sampling(long sampleSeed) {
        try {
            return new SamplingParams(maxNewTokens, temperature, topK, topP, repetitionPenalty, stop, true, sampleSeed);
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

    /** A question's answer record: the run's settings (from {@code file}) and what this sample was. */
    private static ObjectNode record(AnswerFile file, Question q, SamplingParams p, Completion c) {
        ObjectNode r = file.newRecord(q, c.text());
        ObjectNode m = (ObjectNode) r.get("metadata");
        m.put("seed", p.seed());
        m.put("finish_reason", c.finishReason());
        m.put("tokens", c.tokens().length);
        m.put("prompt_tokens", c.promptTokens());
        return r;
    }

    /** {@code answers.jsonl} → {@code answers-top<k>.jsonl}, next to it. */
    static Path groupFile(Path out, int k) {
        String name = out.getFileName().toString();
        String base = name.endsWith(".jsonl") ? name.substring(0, name.length() - 6) : name;
        return out.resolveSibling(base + "-top" + k + ".jsonl");
    }
}
