package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.gpt4llm.io.SafeTensors;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.JsonChecks;
import org.gpt4llm.testing.Numerics;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code sft} and {@code rm} with {@code --gpus 2} on the real data, through the commands a user types:
 * the losses, held-out losses and final weights of the one-device run with the same --batch, under
 * ZeRO 2 and ZeRO 3; and the refusals.
 */
class DataParallelCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path llama, opt;
    static String alpaca;

    @BeforeAll
    static void baseModels() {
        alpaca = SharedFiles.get("data/alpaca_gpt4_en_1k.json").toString();
        Path tok = dir.resolve("tok");
        llama = dir.resolve("llama");
        opt = dir.resolve("opt");
        CliRun r = CliRun.of("init-tokenizer", "--data", alpaca, "--vocab", "300", "--out", tok.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        r = CliRun.of("init-model", "--preset", "tiny", "--tokenizer", tok.toString(), "--out", llama.toString(), "--seed", "3");
        assertEquals(0, r.code(), r.out() + r.err());
        r = CliRun.of("init-model", "--arch", "opt", "--preset", "tiny", "--tokenizer",
                SharedFiles.get("models/opt-tokenizer-roberta").toString(), "--out", opt.toString(), "--seed", "5");
        assertEquals(0, r.code(), r.out() + r.err());
    }

    private static List<Double> losses(Path run, String key) throws Exception {
        List<Double> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonNode n = JSON.readTree(l);
            if (n.has(key)) out.add(JsonChecks.number(n, key));
        }
        return out;
    }

    private static void assertSameRun(Path one, Path two, int steps, double weightTol, double lr) throws Exception {
        List<Double> a = losses(one, "loss"), b = losses(two, "loss");
        assertEquals(steps, a.size());
        assertEquals(steps, b.size());
        for (int i = 0; i < steps; i++) assertEquals(a.get(i), b.get(i), 2e-5 * a.get(i), "loss of step " + (i + 1));
        // held out: under ZeRO 3 rank 0 evaluates with each layer gathered from the shards as it comes
        List<Double> ea = losses(one, "eval_loss"), eb = losses(two, "eval_loss");
        assertEquals(ea.size(), eb.size(), "evaluations");
        for (int i = 0; i < ea.size(); i++) assertEquals(ea.get(i), eb.get(i), 2e-5 * ea.get(i), "eval_loss " + (i + 1));
        try (Arena arena = Arena.ofConfined()) {
            SafeTensors x = SafeTensors.open(one.resolve("final/model.safetensors"), arena);
            SafeTensors y = SafeTensors.open(two.resolve("final/model.safetensors"), arena);
            assertEquals(x.names(), y.names());
            Map<String, float[]> want = new LinkedHashMap<>(), got = new LinkedHashMap<>();
            for (String name : x.names()) {
                if (Numerics.lossIgnores(name)) continue;
                want.put(name, x.tensor(name).toFloatArray());
                got.put(name, y.tensor(name).toFloatArray());
            }
            // a few elements whose gradient terms cancel may step the other way (see DataParallelTest)
            String disagree = Numerics.adamWeightsDisagree(want, got, weightTol, 5e-2, 2 * lr);
            assertNull(disagree, disagree);
        }
    }

    private static CliRun run(List<String> common, Path out, String... more) {
        List<String> args = new ArrayList<>(common);
        args.addAll(List.of("--out", out.toString()));
        args.addAll(List.of(more));
        return CliRun.of(args.toArray(String[]::new));
    }

    @Test
    void sftOnTwoDevicesWithZero2Or3AndRecomputeGivesTheOneDeviceRun() throws Exception {
        List<String> common = List.of("sft", "--model", llama.toString(), "--data", alpaca, "--max-len", "256",
                "--batch", "8", "--micro-batch", "2", "--max-steps", "4", "--lr", "5e-3", "--eval-every", "0",
                "--save-every", "0", "--threads", "2", "--quiet", "--recompute");
        Path one = dir.resolve("sft-1"), two = dir.resolve("sft-2");
        CliRun r = run(common, one);
        assertEquals(0, r.code(), r.out() + r.err());
        r = run(common, two, "--gpus", "2", "--zero", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        assertSameRun(one, two, 4, 1e-5, 5e-3);
        Path three = dir.resolve("sft-2-zero3");
        r = run(common, three, "--gpus", "2", "--zero", "3");
        assertEquals(0, r.code(), r.out() + r.err());
        assertSameRun(one, three, 4, 1e-5, 5e-3);
    }

    @Test
    void rmOnTwoDevicesUnderZero0And3GivesTheOneDeviceRun() throws Exception {
        List<String> common = List.of("rm", "--model", opt.toString(), "--data",
                SharedFiles.get("data/preference_pairs_en.json").toString(), "--max-len", "48", "--max-steps", "3",
                "--batch", "4", "--micro-batch", "2", "--lr", "1e-3", "--eval-fraction", "0.05", "--eval-every", "0",
                "--save-every", "0", "--threads", "2", "--quiet");
        Path one = dir.resolve("rm-1"), two = dir.resolve("rm-2");
        CliRun r = run(common, one);
        assertEquals(0, r.code(), r.out() + r.err());
        r = run(common, two, "--gpus", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        assertSameRun(one, two, 3, 1e-5, 1e-3);
        assertTrue(!losses(one, "eval_loss").isEmpty(), "the runs evaluate");
        // ZeRO 3, saving after step 2: each rank writes its part of the reward model, head included
        List<String> saving = new ArrayList<>(common);
        saving.set(saving.indexOf("--save-every") + 1, "2");
        Path three = dir.resolve("rm-2-zero3");
        r = run(saving, three, "--gpus", "2", "--zero", "3");
        assertEquals(0, r.code(), r.out() + r.err());
        assertSameRun(one, three, 3, 1e-5, 1e-3);
        Path checkpoint = three.resolve("checkpoint-2");
        for (String f : List.of("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                org.gpt4llm.io.Checkpoint.INDEX, "config.json")) {
            assertTrue(Files.isRegularFile(checkpoint.resolve(f)), checkpoint + " holds " + f);
        }
        assertFalse(Files.exists(checkpoint.resolve("model.safetensors")), "no single weight file");
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(SafeTensors.open(one.resolve("final/model.safetensors"), arena).tensors().keySet(),
                    org.gpt4llm.io.Checkpoint.load(checkpoint, arena).keySet(), "the reward model's tensors, head included");
        }
        // and the checkpoint scores as a reward model (without its head it would be refused)
        Path cmp = dir.resolve("pair.json"), scored = dir.resolve("pair-scored.json");
        Files.writeString(cmp, "[{\"user_input\": \"Name a color.\", \"responses_and_scores\": [[\"Blue.\", 8, \"gpt4\"], [\"No.\", 2, \"x\"]]}]");
        r = CliRun.of("rm", "score", "--model", checkpoint.toString(), "--data", cmp.toString(), "--out", scored.toString(),
                "--max-len", "48", "--threads", "2");
        assertEquals(0, r.code(), r.out() + r.err());
        for (JsonNode resp : JSON.readTree(scored.toFile()).get(0).get("responses_and_scores")) {
            assertTrue(resp.size() == 4 && Double.isFinite(resp.get(3).asDouble(Double.NaN)) && resp.get(3).isNumber(), "a reward: " + resp);
        }
    }

    @Test
    void whatCannotWorkIsRefusedInOneSentenceBeforeAnythingIsWritten() {
        List<String> common = List.of("sft", "--model", llama.toString(), "--data", alpaca, "--max-steps", "1");
        String[][] cases = {
                {"--gpus 2 --zero 4", "gpt4llm sft: --zero must be 0, 1, 2 or 3, got 4"},
                {"--nnodes 2", "gpt4llm sft: --nnodes 2 needs --rendezvous HOST:PORT (node 0's address), or MASTER_ADDR"
                        + " and MASTER_PORT"},
                {"--nnodes 2 --node-rank 1 --rendezvous localhost:29500", "gpt4llm sft: --nnodes 2 needs --backend cuda"
                        + " (NCCL between machines); --backend cpu runs several devices in one process only"},
                {"--nnodes 2 --node-rank 2 --rendezvous localhost:29500", "gpt4llm sft: --node-rank 2 is not one of 0..1"},
                {"--gpus 0", "gpt4llm sft: --gpus must be at least 1, got 0"},
                {"--gpus 2 --offload-optimizer", "gpt4llm sft: --offload-optimizer with several devices needs --zero 1, 2"
                        + " or 3 (each device's optimizer shard then lives in host memory), not --zero 0: use --zero 1, or"
                        + " leave out --offload-optimizer"},
        };
        for (String[] c : cases) {
            Path out = dir.resolve("refused-" + c[0].replace(' ', '_'));
            CliRun r = run(common, out, c[0].split(" "));
            assertEquals(2, r.code(), c[0] + ": " + r.out() + r.err());
            assertEquals(c[1], r.err().strip(), c[0]);
            assertFalse(Files.exists(out.resolve("metrics.jsonl")), c[0] + ": nothing trained");
        }
    }

    @Test
    void aLauncherEnvironmentPlacesTheProcessAndFlagsWin() {
        ParallelFlags f = new ParallelFlags();
        new CommandLine(f).parseArgs("--gpus", "4");
        ParallelFlags.Layout l = f.layout(Map.of("RANK", "1", "WORLD_SIZE", "2", "LOCAL_RANK", "0", "MASTER_ADDR", "n0",
                "MASTER_PORT", "29400"));
        assertEquals(new ParallelFlags.Layout(4, 0, 2, 1, 0, "n0:29400"), l);
        assertEquals(8, l.world());
        ParallelFlags g = new ParallelFlags();
        new CommandLine(g).parseArgs("--node-rank", "0", "--rendezvous", "head:1234");
        assertEquals(new ParallelFlags.Layout(1, 0, 3, 0, 2, "head:1234"), g.layout(Map.of("SLURM_PROCID", "2",
                "SLURM_NTASKS", "3", "SLURM_LOCALID", "2", "SLURM_NODELIST", "gpu[1-3]")));
        assertFalse(new ParallelFlags().layout(Map.of()).parallel());
    }
}
