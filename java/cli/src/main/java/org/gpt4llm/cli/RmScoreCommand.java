package org.gpt4llm.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.backend.RewardPairs;
import org.gpt4llm.data.PreferenceReader;
import org.gpt4llm.data.RewardAnnotator;
import org.gpt4llm.data.RewardDataset;
import org.gpt4llm.data.RewardEncoder;
import org.gpt4llm.data.ScoredGroup;
import org.gpt4llm.data.Template;
import org.gpt4llm.model.ModelConfig;
import org.gpt4llm.model.RewardModel;
import org.gpt4llm.tokenizer.HfTokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code gpt4llm rm score}: the reward of every response of a comparison or chosen/rejected file,
 * written into a copy of the file (see {@link RewardAnnotator}); where the file has scores, how often
 * the rewards order pairs as the scores do. {@code --model} is a reward model folder, or a LoRA reward
 * model's adapter folder (loaded on the base model its adapter_config.json names).
 */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Add a reward model's reward to every response of a comparison or chosen/rejected file.")
public final class RmScoreCommand implements Callable<Integer> {
    @Mixin
    ModelFlag model = new ModelFlag();

    @Option(names = "--data", required = true, description = "comparison or chosen/rejected file (JSON or JSONL)")
    Path data;

    @Mixin
    OutFlag out = new OutFlag();

    @Option(names = "--template", description = "prompt template: alpaca, plain or chat (default alpaca)")
    String template = "alpaca";

    @Option(names = "--max-len", description = "tokens per response row, longer ones are cut as in training (default 512)")
    int maxLen = 512;

    @Option(names = "--batch", description = "prompts per forward pass (default 8)")
    int batch = 8;

    @Mixin
    BackendFlags backend = new BackendFlags();

    @Mixin
    WeightTypeFlag weights = new WeightTypeFlag();

    @Override
    public Integer call() throws IOException {
        if (batch < 1) throw new IllegalArgumentException("--batch must be positive, got " + batch);
        Template t = Template.parse(template);
        Path modelDir = ModelFlag.requireRewardModelFolder("--model", model.model), outFile = out.file();
        PreferenceReader.Loaded loaded = PreferenceReader.read(List.of(data), false);
        ModelConfig cfg = ModelConfig.read(RewardModel.modelFolder(modelDir).resolve("config.json"));
        List<float[]> rewards = new ArrayList<>();
        try (HfTokenizer tok = Tokenizers.load(modelDir, cfg.vocabSize());
             Backend be = backend.open(backend.name(), weights.frozen(backend.name(), RewardModel.modelFolder(modelDir)));
             RewardModel rm = RewardModel.loadTrained(be, modelDir, tok.padId())) {
            RewardEncoder enc = new RewardEncoder(tok, t, maxLen);
            RewardDataset ds = new RewardDataset(RmCommand.encode(enc, loaded.groups()), tok.padId());
            rewards.addAll(ds.rewards(rm, batch));
            RewardAnnotator.Result res = RewardAnnotator.write(data, outFile, loaded.groups(), rewards);
            System.out.printf(Locale.ROOT, "%d records scored into %s (%d responses cut to --max-len %d)%n",
                    res.annotated(), outFile, enc.truncatedRows(), maxLen);
            loaded.skipped().forEach(s -> System.out.println("  left unchanged: " + s));
            System.out.println(agreement(loaded.groups(), rewards));
        }
        return 0;
    }

    /** Mean reward per source and, over the pairs the file's scores order, the share the rewards order alike. */
    static String agreement(List<ScoredGroup> groups, List<float[]> rewards) {
        Map<String, double[]> bySource = new TreeMap<>(); // source -> {sum, count}
        long[] counts = new long[2]; // scored pairs, pairs the rewards order alike
        for (int g = 0; g < groups.size(); g++) {
            ScoredGroup sg = groups.get(g);
            float[] r = rewards.get(g);
            for (int i = 0; i < r.length; i++) {
                double[] acc = bySource.computeIfAbsent(sg.sources().get(i), k -> new double[2]);
                acc[0] += r[i];
                acc[1]++;
            }
            RewardPairs.forEach(sg.scores(), new int[] {0, r.length}, (i, j) -> {
                counts[0]++;
                if (r[i] > r[j]) counts[1]++;
            });
        }
        long pairs = counts[0], agree = counts[1];
        StringBuilder sb = new StringBuilder("mean reward by source:");
        bySource.forEach((src, acc) -> sb.append(String.format(Locale.ROOT, " %s %.4f (%d)", src.isEmpty() ? "?" : src,
                acc[0] / acc[1], (long) acc[1])));
        if (pairs > 0) {
            sb.append(String.format(Locale.ROOT, "%nthe rewards order %d of the file's %d scored pairs as the scores do (%.4f)",
                    agree, pairs, (double) agree / pairs));
        }
        return sb.toString();
    }
}
