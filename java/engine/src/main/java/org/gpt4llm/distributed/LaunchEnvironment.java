package org.gpt4llm.distributed;

import java.util.Map;
import java.util.Optional;

/**
 * The place of this process in a job, as the launcher that started it says: torchrun's variables
 * ({@code RANK}, {@code WORLD_SIZE}, {@code LOCAL_RANK}, {@code MASTER_ADDR}, {@code MASTER_PORT}) or
 * Slurm's ({@code SLURM_PROCID}, {@code SLURM_NTASKS}, {@code SLURM_LOCALID}, the first host of
 * {@code SLURM_NODELIST}, and {@code MASTER_PORT} or 29500). One process per node: the rank is the node rank.
 *
 * @param rank        this process's rank, 0 .. worldSize-1
 * @param worldSize   the number of processes
 * @param localRank   its index on its machine
 * @param rendezvous  HOST:PORT of rank 0
 * @param launcher    "torchrun" or "slurm"
 */
public record LaunchEnvironment(int rank, int worldSize, int localRank, String rendezvous, String launcher) {
    /** torchrun's default port, which Slurm jobs use unless MASTER_PORT says otherwise. */
    public static final int DEFAULT_PORT = 29500;

    /** The launcher's variables in {@code env}, torchrun's first; empty when neither set any. */
    public static Optional<LaunchEnvironment> from(Map<String, String> env) {
        if (env.containsKey("RANK") && env.containsKey("WORLD_SIZE")) {
            int rank = number(env, "RANK"), world = number(env, "WORLD_SIZE");
            String addr = env.get("MASTER_ADDR"), port = env.get("MASTER_PORT");
            if (addr == null || port == null) {
                throw new IllegalArgumentException("RANK and WORLD_SIZE are set but MASTER_ADDR or MASTER_PORT is not:"
                        + " torchrun sets all four");
            }
            number(env, "MASTER_PORT");
            return Optional.of(check(new LaunchEnvironment(rank, world,
                    env.containsKey("LOCAL_RANK") ? number(env, "LOCAL_RANK") : 0, addr + ":" + port, "torchrun")));
        }
        if (env.containsKey("SLURM_PROCID") && env.containsKey("SLURM_NTASKS")) {
            String list = env.get("SLURM_NODELIST") != null ? env.get("SLURM_NODELIST") : env.get("SLURM_JOB_NODELIST");
            if (list == null) throw new IllegalArgumentException("SLURM_PROCID is set but SLURM_NODELIST is not");
            String port = env.getOrDefault("MASTER_PORT", String.valueOf(DEFAULT_PORT));
            if (env.containsKey("MASTER_PORT")) number(env, "MASTER_PORT");
            String host = env.containsKey("MASTER_ADDR") ? env.get("MASTER_ADDR") : firstHost(list);
            return Optional.of(check(new LaunchEnvironment(number(env, "SLURM_PROCID"), number(env, "SLURM_NTASKS"),
                    env.containsKey("SLURM_LOCALID") ? number(env, "SLURM_LOCALID") : 0, host + ":" + port, "slurm")));
        }
        return Optional.empty();
    }

    /**
     * The first host of a Slurm node list: {@code "gpu[03-05,09],login1"} gives {@code gpu03},
     * {@code "a,b"} gives {@code a}.
     */
    public static String firstHost(String nodeList) {
        String s = nodeList.trim();
        int bracket = s.indexOf('['), comma = s.indexOf(',');
        if (bracket < 0 || (comma >= 0 && comma < bracket)) {
            String host = comma < 0 ? s : s.substring(0, comma);
            if (host.isEmpty()) throw new IllegalArgumentException("SLURM_NODELIST " + nodeList + " names no host");
            return host;
        }
        int close = s.indexOf(']', bracket);
        if (close < 0) throw new IllegalArgumentException("SLURM_NODELIST " + nodeList + " has an unclosed [");
        String first = s.substring(bracket + 1, close).split(",")[0].split("-")[0];
        return s.substring(0, bracket) + first;
    }

    private static int number(Map<String, String> env, String name) {
        String v = env.get(name);
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException | NullPointerException e) {
            throw new IllegalArgumentException("the environment variable " + name + "=" + v + " is not a whole number");
        }
    }

    private static LaunchEnvironment check(LaunchEnvironment e) {
        String[] names = e.launcher.equals("torchrun") ? new String[] {"RANK", "WORLD_SIZE"}
                : new String[] {"SLURM_PROCID", "SLURM_NTASKS"};
        if (e.worldSize < 1) throw new IllegalArgumentException(names[1] + "=" + e.worldSize + " is not positive");
        if (e.rank < 0 || e.rank >= e.worldSize) {
            throw new IllegalArgumentException(names[0] + "=" + e.rank + " is not below " + names[1] + "=" + e.worldSize);
        }
        return e;
    }
}
