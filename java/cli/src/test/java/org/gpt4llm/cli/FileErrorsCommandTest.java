package org.gpt4llm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.files.FileErrors;
import org.gpt4llm.testing.CliRun;
import org.gpt4llm.testing.SharedFiles;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the commands say when a file is the problem: a byte that is not UTF-8 (the file, line and byte
 * offset), a folder or file the system will not let them write (the operation, the path the user gave,
 * the reason), a model whose tokenizer.json is broken (named as such). Each is one sentence, exit code 2.
 */
class FileErrorsCommandTest {
    private static final String NOT_UTF8 = "not UTF-8; gpt4llm reads its text and JSON files as UTF-8";

    @TempDir
    static Path dir;
    static Path base;

    @BeforeAll
    static void tinyModel() {
        base = dir.resolve("base");
        CliRun r = CliRun.of("init-model", "--preset", "tiny", "--tokenizer", SharedFiles.get("models/llama2-tokenizer").toString(),
                "--out", base.toString(), "--seed", "1");
        assertEquals(0, r.code(), r.out() + r.err());
    }

    /** A file of {@code before}, the byte 0xff, then {@code after}; and the sentence that names that byte. */
    private record BadByte(Path file, String sentence) {
        static BadByte of(String name, String before, String after) throws IOException {
            byte[] head = before.getBytes(StandardCharsets.UTF_8);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            bytes.writeBytes(head);
            bytes.write(0xff);
            bytes.writeBytes(after.getBytes(StandardCharsets.UTF_8));
            Path file = Files.write(dir.resolve(name), bytes.toByteArray());
            long line = 1 + before.chars().filter(c -> c == '\n').count();
            return new BadByte(file, file + " line " + line + " (byte " + head.length + "): the byte 0xff is " + NOT_UTF8);
        }
    }

    private static void saysOneSentence(String expected, String... args) {
        CliRun r = CliRun.of(args);
        assertEquals(2, r.code(), r.out() + r.err());
        assertEquals(expected, r.err().strip());
    }

    @Test
    void aByteThatIsNotUtf8IsNamedByFileLineAndOffset() throws IOException {
        BadByte alpaca = BadByte.of("alpaca.json", "[\n  {\"instruction\": \"Name a colour.\", \"input\": \"\", \"output\": \"Blue.\"},\n"
                + "  {\"instruction\": \"Greet in Fran\u00e7ais\", \"input\": \"\", \"output\": \"Bonjour ", "\"}\n]\n");
        saysOneSentence("gpt4llm sft: " + alpaca.sentence(), "sft", "--model", base.toString(), "--data", alpaca.file().toString(),
                "--out", dir.resolve("sft").toString(), "--max-steps", "1", "--threads", "2", "--quiet");
        saysOneSentence("gpt4llm init-tokenizer: " + alpaca.sentence(), "init-tokenizer", "--data", alpaca.file().toString(),
                "--vocab", "300", "--out", dir.resolve("tok").toString());
        saysOneSentence("gpt4llm datagen alpaca: " + alpaca.sentence(), "datagen", "alpaca", "--in", alpaca.file().toString(),
                "--out", dir.resolve("collected.jsonl").toString(), "--dry-run");
        saysOneSentence("gpt4llm eval stats lengths: " + alpaca.sentence(), "eval", "stats", "lengths", "--data",
                alpaca.file().toString(), "--out", dir.resolve("stats").toString());
        saysOneSentence("gpt4llm eval exact: " + alpaca.sentence(), "eval", "exact", "--predictions", alpaca.file().toString(),
                "--references", alpaca.file().toString(), "--out", dir.resolve("exact").toString());

        BadByte pairs = BadByte.of("pairs.jsonl", "{\"prompt\": \"Say yes.\", \"chosen\": \"Yes.\", \"rejected\": \"No.\"}\n"
                + "{\"prompt\": \"Say no.\", \"chosen\": \"No.\", \"rejected\": \"Non", "\"}\n");
        saysOneSentence("gpt4llm rm: " + pairs.sentence(), "rm", "--model", base.toString(), "--data", pairs.file().toString(),
                "--out", dir.resolve("rm").toString(), "--max-steps", "1", "--threads", "2", "--quiet");

        BadByte questions = BadByte.of("questions.jsonl", "{\"question_id\": 1, \"text\": \"What is 2+2?\", \"category\": \"math\"}\n"
                + "{\"question_id\": 2, \"text\": \"caf", "\", \"category\": \"generic\"}\n");
        saysOneSentence("gpt4llm generate: " + questions.sentence(), "generate", "--model", base.toString(), "--questions",
                questions.file().toString(), "--out", dir.resolve("answers.jsonl").toString(), "--max-new-tokens", "2", "--threads", "2");

        BadByte scores = BadByte.of("scores.json", "{\n  \"gpt4\": [8, 9],\n  \"llama", "\": [5, 6]\n}\n");
        saysOneSentence("gpt4llm eval stats scores: " + scores.sentence(), "eval", "stats", "scores", "--data",
                scores.file().toString(), "--out", dir.resolve("scores").toString());

        BadByte reviews = BadByte.of("reviews.jsonl", "{\"question_id\": 1, \"text\": \"8 9 ", "\"}\n{\"question_id\": 2}\n");
        saysOneSentence("gpt4llm eval judge: " + reviews.sentence(), "eval", "judge", "--reviews", reviews.file().toString(),
                "--out", dir.resolve("judge").toString());

        BadByte yaml = BadByte.of("sft.yaml", "lr: 1.0e-4\nepochs: 1\n# caf", "\n");
        saysOneSentence("gpt4llm sft: " + yaml.sentence(), "sft", "--config", yaml.file().toString(), "--model", base.toString(),
                "--data", alpaca.file().toString(), "--out", dir.resolve("sft2").toString());
    }

    @Test
    void aPathThatCannotBeWrittenIsNamedWithTheReason() throws IOException {
        Path file = Files.writeString(dir.resolve("notes.txt"), "not a folder");
        String data = SharedFiles.get("data/alpaca_gpt4_en_1k.json").toString();
        // java.nio's own message would be the path alone, "notes.txt/run: Not a directory" at best
        saysOneSentence("gpt4llm sft: cannot create the folder " + file.resolve("run") + ": " + file + " is a file, not a folder",
                "sft", "--model", base.toString(), "--data", data, "--out", file.resolve("run").toString(), "--max-steps", "1",
                "--max-len", "256", "--threads", "2", "--quiet");
        saysOneSentence("gpt4llm eval stats lengths: cannot create the folder " + file.resolve("stats") + ": " + file
                + " is a file, not a folder", "eval", "stats", "lengths", "--data", data, "--out", file.resolve("stats").toString());
        saysOneSentence("gpt4llm init-tokenizer: cannot create the folder " + file.resolve("tok") + ": " + file
                + " is a file, not a folder", "init-tokenizer", "--data", data, "--vocab", "300", "--out", file.resolve("tok").toString());
    }

    /**
     * Where a folder refuses new files even to root (sysfs), the message names the file or folder the user
     * asked for, never the temp file or staging folder the command writes first.
     */
    @Test
    void theTargetIsNamedNotTheTempFileOnItsWay() {
        Path sys = Path.of("/sys/kernel");
        String refused = refusal(sys.resolve(".gpt4llm-probe"));
        assumeTrue(refused != null, "a folder that refuses new files (Linux sysfs)");
        Path json = sys.resolve("gpt4llm-tasks.json");
        saysOneSentence("gpt4llm demo tasks: cannot write " + json + ": " + refused, "demo", "tasks", "--n", "2", "--out", json.toString());
        Path model = sys.resolve("gpt4llm-model");
        CliRun r = CliRun.of("import-gguf", SharedFiles.get("models/stories260K.gguf").toString(), "--out", model.toString());
        assertEquals(2, r.code(), r.out() + r.err());
        assertTrue(r.err().startsWith("gpt4llm import-gguf: cannot write " + model + ": "), r.err());
        assertFalse(r.err().contains(".import-") || r.err().contains(".tmp"), "no temp path: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    /** Why the system refuses to create {@code file}, in the words of the messages; null when it does not. */
    private static String refusal(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            Files.delete(file);
            return null;
        } catch (IOException e) {
            return FileErrors.isFileSystemFailure(e) ? FileErrors.reason(e) : null;
        }
    }

    @Test
    void aBrokenTokenizerJsonIsNamedAsSuch() throws IOException {
        Path broken = Files.createDirectories(dir.resolve("broken-tokenizer"));
        for (String f : List.of("config.json", "model.safetensors", "tokenizer_config.json")) {
            Files.copy(base.resolve(f), broken.resolve(f));
        }
        String tokenizer = Files.readString(base.resolve("tokenizer.json"));
        Path questions = SharedFiles.get("data/vicuna_question_80.jsonl");
        String prefix = broken.resolve("tokenizer.json") + " is not a tokenizer the HF tokenizers library can load: ";
        List<String[]> cases = new ArrayList<>();
        cases.add(new String[] {tokenizer.substring(0, tokenizer.length() / 3), "it is not JSON (line "});
        cases.add(new String[] {"{\"version\": \"1.0\", \"added_tokens\": []}", "it has no \"model\" section"});
        cases.add(new String[] {"{\"model\": {\"type\": \"BPE\", \"vocab\": [\"a\"], \"merges\": []}}", "invalid type: sequence"});
        for (String[] c : cases) {
            Files.writeString(broken.resolve("tokenizer.json"), c[0]);
            for (String command : List.of("generate", "sft")) {
                List<String> args = new ArrayList<>(List.of(command, "--model", broken.toString(), "--out",
                        dir.resolve(command + "-out").toString(), "--threads", "2"));
                args.addAll(command.equals("generate") ? List.of("--questions", questions.toString())
                        : List.of("--data", SharedFiles.get("data/alpaca_gpt4_en_1k.json").toString()));
                CliRun r = CliRun.of(args.toArray(String[]::new));
                assertEquals(2, r.code(), r.out() + r.err());
                assertTrue(r.err().startsWith("gpt4llm " + command + ": " + prefix + c[1]), r.err());
                assertEquals(1, r.err().strip().lines().count(), r.err());
            }
        }
    }
}
