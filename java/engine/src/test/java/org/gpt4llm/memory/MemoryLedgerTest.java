package org.gpt4llm.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.util.Random;
import org.gpt4llm.memory.MemoryLedger.Side;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;

/** Live bytes by category on each side, given back when an arena closes, and the high-water marks. */
class MemoryLedgerTest {
    @Test
    void bytesAreCountedUntilTheirArenaClosesAndThePeakStays() {
        Random rng = TestSeeds.random();
        long w = 1 + rng.nextInt(1 << 20), a = 1 + rng.nextInt(1 << 20), h = 1 + rng.nextInt(1 << 20);
        MemoryLedger ledger = new MemoryLedger();
        try (Arena weights = Arena.ofConfined()) {
            ledger.track(weights, Side.DEVICE, MemoryCategory.WEIGHTS, w);
            try (Arena acts = Arena.ofConfined()) {
                ledger.track(acts, Side.DEVICE, MemoryCategory.ACTIVATIONS, a);
                ledger.track(acts, Side.HOST, MemoryCategory.MOMENTS, h);
                assertEquals(w, ledger.live().device(MemoryCategory.WEIGHTS));
                assertEquals(a, ledger.live().device(MemoryCategory.ACTIVATIONS));
                assertEquals(w + a, ledger.live().deviceBytes());
                assertEquals(h, ledger.live().host(MemoryCategory.MOMENTS));
            }
            assertEquals(0, ledger.live().device(MemoryCategory.ACTIVATIONS), "freed with its arena");
            assertEquals(0, ledger.live().hostBytes());
            assertEquals(w, ledger.live().deviceBytes());
            // a smaller allocation later leaves the mark and its categories where they were
            ledger.track(weights, Side.DEVICE, MemoryCategory.LOGITS, a / 2);
        }
        assertEquals(0, ledger.live().deviceBytes());
        assertEquals(w + a, ledger.peakDeviceBytes());
        assertEquals(h, ledger.peakHostBytes());
        Footprint peak = ledger.peak();
        assertEquals(w, peak.device(MemoryCategory.WEIGHTS));
        assertEquals(a, peak.device(MemoryCategory.ACTIVATIONS));
        assertEquals(0, peak.device(MemoryCategory.LOGITS));
        assertEquals(h, peak.host(MemoryCategory.MOMENTS));
        ledger.resetPeak();
        assertEquals(0, ledger.peakDeviceBytes());
    }

    @Test
    void freeingMoreThanIsLiveIsRefused() {
        MemoryLedger ledger = new MemoryLedger();
        ledger.allocated(Side.DEVICE, MemoryCategory.GRADIENTS, 10);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> ledger.freed(Side.DEVICE, MemoryCategory.GRADIENTS, 11));
        assertEquals("freeing 11 bytes of gradients on the device with 10 live", e.getMessage());
    }

    @Test
    void categoriesHaveTheirJsonNames() {
        assertEquals("master_weights", MemoryCategory.MASTER_WEIGHTS.key());
        for (MemoryCategory c : MemoryCategory.values()) assertEquals(c, MemoryCategory.ofKey(c.key()));
        assertThrows(IllegalArgumentException.class, () -> MemoryCategory.ofKey("optimizer"));
    }
}
