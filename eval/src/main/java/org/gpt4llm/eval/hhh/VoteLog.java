package org.gpt4llm.eval.hhh;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.gpt4llm.datagen.files.TextFiles;

/**
 * Votes on disk: a JSONL file only ever appended to, each vote forced to disk before the rater
 * sees the next task, so a crash or a restart loses nothing already cast. A last line cut short by
 * a crash mid-write is skipped on reading (and the next vote starts on a fresh line).
 */
public final class VoteLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private final FileChannel out;
    private final List<Vote> votes;

    public VoteLog(Path file) throws IOException {
        this.file = file;
        this.votes = read(file);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        this.out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        if (out.size() > 0 && !endsWithNewline(file)) write("\n");
    }

    /** Every vote read or appended so far, oldest first. */
    public synchronized List<Vote> votes() {
        return List.copyOf(votes);
    }

    public synchronized void append(Vote vote) throws IOException {
        write(JSON.writeValueAsString(vote.toJson()) + "\n");
        votes.add(vote);
    }

    private void write(String text) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
        while (bytes.hasRemaining()) out.write(bytes);
        out.force(false);
    }

    public static List<Vote> read(Path file) throws IOException {
        List<Vote> votes = new ArrayList<>();
        if (!Files.exists(file)) return votes;
        if (!Files.isRegularFile(file)) throw new IOException(file + " is not a file");
        String text = TextFiles.readLog(file);
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].isBlank()) continue;
            String where = file + ":" + (i + 1);
            boolean unterminated = i == lines.length - 1;
            try {
                votes.add(Vote.fromJson(JSON.readTree(lines[i]), where));
            } catch (JacksonException e) {
                if (unterminated) break;   // torn by a crash while being written: the vote was never confirmed
                throw new IOException(where + " is not valid JSON: " + e.getOriginalMessage(), e);
            }
        }
        return votes;
    }

    private static boolean endsWithNewline(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer last = ByteBuffer.allocate(1);
            ch.read(last, ch.size() - 1);
            return last.get(0) == '\n';
        }
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
