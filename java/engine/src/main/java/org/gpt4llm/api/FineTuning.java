package org.gpt4llm.api;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.backend.Backend;
import org.gpt4llm.data.DataLoader;
import org.gpt4llm.data.Example;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.data.SftDataset;
import org.gpt4llm.data.SftRecord;
import org.gpt4llm.data.Turn;
import org.gpt4llm.model.DecoderModel;
import org.gpt4llm.model.DecoderModels;
import org.gpt4llm.model.LoraConfig;
import org.gpt4llm.model.TokenBatch;
import org.gpt4llm.optim.AdamWOptimizer;
import org.gpt4llm.runtime.Backends;
import org.gpt4llm.tensor.Tensor;
import org.gpt4llm.train.DataOrder;
import org.gpt4llm.train.TrainableModel;
import org.gpt4llm.train.FullFineTune;
import org.gpt4llm.train.LoraFineTune;
import org.gpt4llm.train.LrSchedule;
import org.gpt4llm.train.StepEngine;
import org.gpt4llm.train.Trainer;
import org.gpt4llm.train.parallel.DataParallel;
import org.gpt4llm.train.parallel.LocalGroup;

/**
 * Supervised fine-tuning of a {@link Model} in memory, step by step, with the loss of each step: the
 * same forward, backward, gradient accumulation, AdamW update and clipping as {@code gpt4llm sft}
 * (whose run folders, checkpoints and resumption are for long runs). Made by {@link Engine#fineTune}.
 *
 * <p>Examples are formatted with the options' template and tokenised as {@code sft} does (BOS, the
 * prompt, the response, EOS; loss on the response only unless {@code trainOnInputs}). Each step marks
 * an NVTX range {@code step N} on a GPU and commits a JFR {@code org.gpt4llm.TrainStep} event.
 *
 * <p>With {@link FineTuneOptions#devices} above 1 the steps run data-parallel, as {@code gpt4llm sft
 * --gpus N --zero S}: the model stays on the engine's device and holds the trained weights after each
 * step; the other devices hold copies while the fine-tuning is open.
 *
 * <p>Ownership and threading: the fine-tuning updates its model in place; {@link #close} frees the
 * optimizer state (the trained weights or adapters stay in the model). One thread at a time, and
 * don't generate from the model on another thread while a step runs.
 */
public final class FineTuning implements AutoCloseable {
    private final Model model;
    private final FineTuneOptions options;
    private final TrainableModel<TokenBatch> trainable;
    private final AdamWOptimizer optimizer;
    private final StepEngine<TokenBatch> runner;
    /** With several devices: the other devices' backends and copies of the model (device 0 is the engine's). */
    private final List<Backend> otherBackends = new ArrayList<>();
    private final List<DecoderModel> otherModels = new ArrayList<>();
    private final LrSchedule schedule;
    private int steps;
    private boolean closed;

    FineTuning(Model model, FineTuneOptions options) {
        this.model = model;
        this.options = options;
        DecoderModel dm = model.decoder();
        if (options.loraRank() > 0) {
            LoraConfig want = options.lora();
            LoraConfig have = dm.loraConfig();
            if (have == null) {
                dm.enableLora(want, options.seed());
            } else if (have.rank() != want.rank()) {
                throw new IllegalArgumentException("the model already has LoRA adapters of rank " + have.rank()
                        + ": fine-tune them with FineTuneOptions.lora(" + have.rank() + ") or merge them first");
            }
            trainable = new LoraFineTune(dm, model.source());
        } else {
            if (dm.loraConfig() != null) {
                throw new IllegalArgumentException("the model has LoRA adapters: merge them (Model.mergeAdapter) before"
                        + " full fine-tuning, or fine-tune them with FineTuneOptions.lora");
            }
            trainable = new FullFineTune(dm, model.source());
        }
        StepEngine.Factory<TokenBatch> steps = StepEngine.Factory.singleDevice();
        try {
            if (options.devices() > 1) steps = dataParallel(dm);
            optimizer = steps.optimizer(trainable, options.weightDecay(), false);
        } catch (RuntimeException e) {
            closeOtherDevices();
            throw e;
        }
        try {
            runner = steps.open(trainable, optimizer, false, note -> {});
        } catch (RuntimeException e) {
            optimizer.close();
            closeOtherDevices();
            throw e;
        }
        schedule = options.lrSchedule();
    }

    /**
     * The steps over {@code options.devices()} devices: the engine's, holding {@code dm}, and more of its
     * backend, each with a copy of {@code dm}'s weights (and adapters of the same configuration, which the
     * first step's broadcast makes {@code dm}'s), spread as {@code gpt4llm sft --gpus} spreads them.
     */
    private StepEngine.Factory<TokenBatch> dataParallel(DecoderModel dm) {
        Backend be = dm.backend();
        int n = options.devices();
        List<TrainableModel<TokenBatch>> replicas = new ArrayList<>(List.of(trainable));
        try (Arena host = Arena.ofConfined()) {
            Map<String, Tensor> weights = new LinkedHashMap<>();
            dm.parameters().forEach((name, t) -> weights.put(name, be.toHost(t, host)));
            for (int d = 1; d < n; d++) {
                Backend other = Backends.open(be.name(), Math.max(1, be.threads() / n), d);
                otherBackends.add(other);
                DecoderModel copy = DecoderModels.create(other, dm.config(), weights);
                otherModels.add(copy);
                if (dm.loraConfig() != null) {
                    copy.enableLora(dm.loraConfig(), options.seed());
                    replicas.add(new LoraFineTune(copy, model.source()));
                } else {
                    replicas.add(new FullFineTune(copy, model.source()));
                }
            }
        }
        List<Backend> all = new ArrayList<>(List.of(be));
        all.addAll(otherBackends);
        return new DataParallel<>(replicas, LocalGroup.open(all, DataParallel.DEFAULT_TIMEOUT), options.zero());
    }

    private void closeOtherDevices() {
        for (int i = otherModels.size() - 1; i >= 0; i--) otherModels.get(i).close();
        for (int i = otherBackends.size() - 1; i >= 0; i--) otherBackends.get(i).close();
        otherModels.clear();
        otherBackends.clear();
    }

    /** The model being trained. */
    public Model model() {
        return model;
    }

    /** Optimizer steps taken so far. */
    public int steps() {
        return steps;
    }

    /**
     * One optimizer step over {@code examples} (all of them, in micro-batches of the options'
     * {@code microBatch}): the gradient of their mean loss per response token, then the update.
     * Returns what the step did: its loss (before the update), gradient norm, tokens and time.
     * Throws {@link org.gpt4llm.train.TrainingDivergedException} without updating when the loss or
     * the gradient norm is not finite.
     */
    public Trainer.Step step(List<TrainingExample> examples) {
        return stepEncoded(encode(examples, "examples"));
    }

    /**
     * {@code steps} optimizer steps over {@code data}, {@code batch} examples each, in an order
     * shuffled per epoch from the seed (the {@code sft} data order). Returns each step's result.
     */
    public List<Trainer.Step> train(List<TrainingExample> data, int steps) {
        return trainEncoded(encode(data, "examples"), steps);
    }

    /**
     * {@link #train(List, int)} on an instruction file: Alpaca JSON/JSONL ({@code instruction},
     * {@code input}, {@code output}) or ShareGPT conversations, as {@code gpt4llm sft} reads them.
     * A record that cannot be used fails with its file and position (or is skipped when not strict).
     */
    public List<Trainer.Step> train(Path dataFile, int steps) throws IOException {
        checkOpen();
        if (!Files.isRegularFile(dataFile)) throw new IOException("no data file at " + dataFile);
        SftDataset ds = SftDataset.load(List.of(dataFile), model.hfTokenizer(), dataOptions());
        if (ds.examples().isEmpty()) throw new IllegalArgumentException(dataFile + " holds no usable record: " + ds.report(3));
        return trainEncoded(ds.examples(), steps);
    }

    /**
     * The mean loss per response token of {@code examples} under the model as it is now, without
     * dropout and without changing anything (the held-out loss of {@code sft}).
     */
    public double loss(List<TrainingExample> examples) {
        List<Example> ex = encode(examples, "examples");
        List<TokenBatch> batches = DataLoader.inOrder(ex, options.microBatch(), options.maxLen(), false,
                model.hfTokenizer().padId());
        try {
            // with the weights sharded over devices (ZeRO 3), the others take part in rank 0's gathers
            return runner.withWholeModel(() -> Trainer.evaluate(trainable, batches, steps).get("eval_loss"));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } finally {
            model.setTraining(false);
        }
    }

    /**
     * Saves what was trained into {@code dir}: the PEFT adapter folder for LoRA, an HF model folder
     * for full fine-tuning; with the tokenizer files of the model's source folder, so
     * {@link Engine#load(Path, Path)} (LoRA) or {@link Engine#load(Path)} (full) reads it back.
     */
    public void save(Path dir) throws IOException {
        checkOpen();
        runner.withWholeModel(() -> {
            trainable.save(dir);
            return dir;
        });
    }

    /**
     * Frees the optimizer's moments (and fp32 master weights on a GPU), and with several devices the
     * other devices and their copies of the model. Idempotent.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        runner.close();
        optimizer.close();
        closeOtherDevices();
        model.setTraining(false);
        model.engine().forget(this);
    }

    @Override
    public String toString() {
        return "FineTuning(" + model.source() + ", " + steps + " steps)";
    }

    private List<Trainer.Step> trainEncoded(List<Example> examples, int count) {
        checkOpen();
        if (count < 0) throw new IllegalArgumentException("the number of steps must not be negative, got " + count);
        if (examples.isEmpty()) throw new IllegalArgumentException("there are no examples to train on");
        DataOrder order = new DataOrder(options.seed(), examples.size(), options.batch());
        List<Trainer.Step> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            List<Example> picked = new ArrayList<>();
            for (int r : order.rows(steps)) picked.add(examples.get(r));
            out.add(stepEncoded(picked));
        }
        return out;
    }

    private Trainer.Step stepEncoded(List<Example> examples) {
        checkOpen();
        if (examples.isEmpty()) throw new IllegalArgumentException("a step needs at least one example");
        List<TokenBatch> micro = DataLoader.inOrder(examples, options.microBatch(), options.maxLen(), false,
                model.hfTokenizer().padId());
        int total = options.totalSteps();
        double lr = schedule.lr(total > 0 ? Math.min(steps, total - 1) : steps);
        try {
            model.setTraining(true);
            Trainer.Step s = runner.step(micro, steps + 1, lr, options.gradClip(), Trainer.dropoutSeed(options.seed(), steps));
            steps++;
            return s;
        } finally {
            model.setTraining(false);
        }
    }

    private SftDataset.Options dataOptions() {
        return new SftDataset.Options(options.template(), options.maxLen(), options.trainOnInputs(), options.strict());
    }

    /** The examples as Alpaca records, tokenised; a bad one is named by its position. */
    private List<Example> encode(List<TrainingExample> examples, String what) {
        checkOpen();
        List<SftRecord> records = new ArrayList<>(examples.size());
        Path where = Path.of(what);
        for (int i = 0; i < examples.size(); i++) {
            TrainingExample e = examples.get(i);
            records.add(new SftRecord(new RecordRef(where, i, 0), SftRecord.DataFormat.ALPACA, "",
                    List.of(new Turn(e.instruction(), e.input(), e.output()))));
        }
        SftDataset.Options strict = new SftDataset.Options(options.template(), options.maxLen(), options.trainOnInputs(), true);
        return SftDataset.encode(records, List.of(), model.hfTokenizer(), strict).examples();
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("this fine-tuning is closed");
    }
}
