package org.gpt4llm.datagen.run;

/**
 * An item that failed this run (it is not done: the next run tries it again).
 *
 * @param attempts runs that have tried the item and failed, this one included
 * @param status   the teacher's last HTTP status, 0 when none (timeout, dropped connection, unusable answer)
 */
public record Failure(String id, String reason, int status, int attempts) {}
