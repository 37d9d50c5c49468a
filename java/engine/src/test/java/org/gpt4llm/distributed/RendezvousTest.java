package org.gpt4llm.distributed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/** The rendezvous over real sockets on this machine: nodes are threads. */
class RendezvousTest {
    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void everyNodeGetsNodeZerosIdWhicheverStartsFirst() throws Exception {
        int port = freePort();
        InetSocketAddress at = Rendezvous.address("--rendezvous", "127.0.0.1:" + port);
        byte[] id = new byte[128];
        Random rng = TestSeeds.random();
        rng.nextBytes(id);
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            List<Future<byte[]>> joined = new ArrayList<>();
            for (int node = 1; node <= 2; node++) {
                int n = node;
                joined.add(pool.submit(() -> Rendezvous.join(at, n, Duration.ofSeconds(20))));  // before node 0 listens
            }
            Thread.sleep(300);
            Future<?> served = pool.submit(() -> {
                Rendezvous.serve(at, 3, id, Duration.ofSeconds(20));
                return null;
            });
            served.get();
            for (Future<byte[]> f : joined) assertArrayEquals(id, f.get());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aNodeThatNeverArrivesIsNamedAfterTheTimeout() throws Exception {
        int port = freePort();
        InetSocketAddress at = Rendezvous.address("--rendezvous", "127.0.0.1:" + port);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<byte[]> one = pool.submit(() -> Rendezvous.join(at, 1, Duration.ofSeconds(20)));
            long t0 = System.nanoTime();
            IOException e = assertThrows(IOException.class,
                    () -> Rendezvous.serve(at, 4, new byte[128], Duration.ofMillis(1500)));
            assertEquals("rendezvous at 127.0.0.1:" + port + ": nodes 2, 3 never arrived within 2 s", e.getMessage());
            assertTrue(System.nanoTime() - t0 < 10_000_000_000L);
            assertEquals(128, one.get().length, "the node that came got the id");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aNodeZeroThatNeverListensIsNamedAfterTheTimeout() throws Exception {
        int port = freePort();
        InetSocketAddress at = Rendezvous.address("--rendezvous", "127.0.0.1:" + port);
        IOException e = assertThrows(IOException.class, () -> Rendezvous.join(at, 2, Duration.ofMillis(600)));
        assertEquals("rendezvous at 127.0.0.1:" + port + ": node 0 did not answer node 2 within 1 s", e.getMessage());
    }

    @Test
    void aBadAddressIsOneSentence() {
        assertEquals("--rendezvous node1 is not HOST:PORT",
                assertThrows(IllegalArgumentException.class, () -> Rendezvous.address("--rendezvous", "node1")).getMessage());
        assertEquals("--rendezvous node1:99999 has no port 1..65535",
                assertThrows(IllegalArgumentException.class, () -> Rendezvous.address("--rendezvous", "node1:99999")).getMessage());
    }
}
