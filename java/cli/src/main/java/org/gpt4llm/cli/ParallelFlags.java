package org.gpt4llm.cli;

import java.util.Map;
import java.util.Optional;
import org.gpt4llm.distributed.LaunchEnvironment;
import org.gpt4llm.distributed.Rendezvous;
import org.gpt4llm.train.parallel.DataParallel;
import picocli.CommandLine.Option;

/**
 * {@code --gpus}, {@code --zero}, {@code --nnodes}, {@code --node-rank}, {@code --rendezvous}: how many
 * devices a training run uses and how they share the work. A process started by torchrun or srun takes
 * its place in the job from the launcher's environment ({@link LaunchEnvironment}); flags given win.
 */
final class ParallelFlags {
    @Option(names = "--gpus", description = "devices this process drives, one thread each (default 1); with cuda, GPUs"
            + " LOCAL_RANK·N .. LOCAL_RANK·N+N-1")
    Integer gpus;

    @Option(names = "--zero", description = "ZeRO stage with several devices: 0 all-reduces gradients, 1 also shards the"
            + " optimizer state, 2 also reduce-scatters the gradients (default 0)")
    Integer zero;

    @Option(names = "--nnodes", description = "processes (machines) in the job, each with --gpus devices (default 1,"
            + " or WORLD_SIZE / SLURM_NTASKS)")
    Integer nnodes;

    @Option(names = "--node-rank", description = "this process's place among --nnodes, from 0 (default RANK / SLURM_PROCID)")
    Integer nodeRank;

    @Option(names = "--rendezvous", description = "HOST:PORT where node 0 hands out the NCCL id (default"
            + " MASTER_ADDR:MASTER_PORT, or the first host of SLURM_NODELIST:29500)")
    String rendezvous;

    /**
     * This process's place in the job.
     *
     * @param gpus        devices this process drives
     * @param zero        the ZeRO stage
     * @param nodes       processes in the job
     * @param nodeRank    this process's index among them
     * @param localRank   its index on its machine (which GPUs it takes)
     * @param rendezvous  HOST:PORT of node 0 (null with one node)
     */
    record Layout(int gpus, int zero, int nodes, int nodeRank, int localRank, String rendezvous) {
        /** Ranks in the whole job. */
        int world() {
            return gpus * nodes;
        }

        boolean parallel() {
            return world() > 1;
        }
    }

    /** The flags, then {@code env}'s launcher variables for what they leave out; checked. */
    Layout layout(Map<String, String> env) {
        Optional<LaunchEnvironment> launched = LaunchEnvironment.from(env);
        int g = gpus == null ? 1 : gpus, z = zero == null ? 0 : zero;
        if (g < 1) throw new IllegalArgumentException("--gpus must be at least 1, got " + g);
        DataParallel.requireStage(z);
        int nodes = nnodes != null ? nnodes : launched.map(LaunchEnvironment::worldSize).orElse(1);
        int rank = nodeRank != null ? nodeRank : launched.map(LaunchEnvironment::rank).orElse(0);
        int local = launched.map(LaunchEnvironment::localRank).orElse(0);
        String at = rendezvous != null ? rendezvous : launched.map(LaunchEnvironment::rendezvous).orElse(null);
        if (nodes < 1) throw new IllegalArgumentException("--nnodes must be at least 1, got " + nodes);
        if (rank < 0 || rank >= nodes) throw new IllegalArgumentException("--node-rank " + rank + " is not one of 0.." + (nodes - 1));
        if (nodes > 1) {
            if (at == null) {
                throw new IllegalArgumentException("--nnodes " + nodes + " needs --rendezvous HOST:PORT (node 0's address),"
                        + " or MASTER_ADDR and MASTER_PORT");
            }
            Rendezvous.address("--rendezvous", at);
        }
        return new Layout(g, z, nodes, rank, local, nodes > 1 ? at : null);
    }
}
