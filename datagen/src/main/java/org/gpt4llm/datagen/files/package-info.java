/**
 * Writing files whole or not at all, and the temps that takes, for every module (datagen is the
 * module the others build on): {@link org.gpt4llm.datagen.files.AtomicWrite} and
 * {@link org.gpt4llm.datagen.files.TempFiles}.
 */
package org.gpt4llm.datagen.files;
