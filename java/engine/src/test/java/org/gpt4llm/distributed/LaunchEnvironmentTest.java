package org.gpt4llm.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class LaunchEnvironmentTest {
    @Test
    void torchrunsVariables() {
        LaunchEnvironment e = LaunchEnvironment.from(Map.of("RANK", "3", "WORLD_SIZE", "4", "LOCAL_RANK", "1",
                "MASTER_ADDR", "10.0.0.7", "MASTER_PORT", "29400")).orElseThrow();
        assertEquals(new LaunchEnvironment(3, 4, 1, "10.0.0.7:29400", "torchrun"), e);
    }

    @Test
    void slurmsVariablesWithTheFirstHostOfTheNodeList() {
        LaunchEnvironment e = LaunchEnvironment.from(Map.of("SLURM_PROCID", "1", "SLURM_NTASKS", "2", "SLURM_LOCALID", "0",
                "SLURM_NODELIST", "gpu[07-08,11],login1")).orElseThrow();
        assertEquals(new LaunchEnvironment(1, 2, 0, "gpu07:29500", "slurm"), e);
        assertEquals("a", LaunchEnvironment.firstHost("a,b"));
        assertEquals("node3", LaunchEnvironment.firstHost("node[3,5]"));
        assertEquals("solo", LaunchEnvironment.firstHost("solo"));
        assertEquals("x", LaunchEnvironment.firstHost("x,y[1-2]"));
    }

    @Test
    void noLauncherMeansNothing() {
        assertTrue(LaunchEnvironment.from(Map.of("HOME", "/root")).isEmpty());
    }

    @Test
    void badValuesAreNamed() {
        assertEquals("the environment variable RANK=x is not a whole number", assertThrows(IllegalArgumentException.class,
                () -> LaunchEnvironment.from(Map.of("RANK", "x", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1")))
                .getMessage());
        assertEquals("RANK=2 is not below WORLD_SIZE=2", assertThrows(IllegalArgumentException.class,
                () -> LaunchEnvironment.from(Map.of("RANK", "2", "WORLD_SIZE", "2", "MASTER_ADDR", "h", "MASTER_PORT", "1")))
                .getMessage());
        assertEquals("RANK and WORLD_SIZE are set but MASTER_ADDR or MASTER_PORT is not: torchrun sets all four",
                assertThrows(IllegalArgumentException.class,
                        () -> LaunchEnvironment.from(Map.of("RANK", "0", "WORLD_SIZE", "2"))).getMessage());
        assertEquals("SLURM_NODELIST gpu[1-2 has an unclosed [", assertThrows(IllegalArgumentException.class,
                () -> LaunchEnvironment.firstHost("gpu[1-2")).getMessage());
    }
}
