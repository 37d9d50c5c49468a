/**
 * Memory accounting: the categories of what the engine allocates ({@link org.gpt4llm.memory.MemoryCategory}),
 * the ledger every backend keeps of its live bytes and their high-water mark
 * ({@link org.gpt4llm.memory.MemoryLedger}), and bytes by category ({@link org.gpt4llm.memory.Footprint}).
 * Depends on nothing else of the engine, so the backends can own a ledger.
 */
package org.gpt4llm.memory;
