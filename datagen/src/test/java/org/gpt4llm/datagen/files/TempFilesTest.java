package org.gpt4llm.datagen.files;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.gpt4llm.testing.EndedProcess;
import org.gpt4llm.testing.FilePermissions;
import org.gpt4llm.testing.FileTrees;
import org.gpt4llm.testing.TestSeeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Temp names a killed writer leaves are found and removed by the next writer of the same target, and nothing else is. */
class TempFilesTest {
    @TempDir
    Path dir;


    private Path temp(String target, String writer, long pid) throws Exception {
        return Files.writeString(dir.resolve("." + target + "." + writer + "-" + pid + "-"
                + String.format("%016x", TestSeeds.next()) + ".tmp"), "half");
    }


    @Test
    void aNameSaysTargetWriterAndProcess() {
        Path t = TempFiles.name(dir.resolve("out.json"), "export");
        assertTrue(t.getFileName().toString().matches("\\.out\\.json\\.export-" + ProcessHandle.current().pid()
                + "-[0-9a-f]{16}\\.tmp"), t.toString());
        assertEquals(dir.toAbsolutePath(), t.getParent());
        assertTrue(TempFiles.name(dir.resolve("loss.png"), "plot", ".png").toString().endsWith(".tmp.png"));
    }

    @Test
    void onlyTheTempsOfStoppedRunsOfThatWriterAndTargetAreRemoved() throws Exception {
        long gone = EndedProcess.pid(), live = ProcessHandle.current().pid();
        Path stale = temp("out.json", "export", gone);
        Path staleDir = Files.createDirectory(dir.resolve(".out.json.export-" + gone + "-00000000000000aa.tmp"));
        Files.writeString(staleDir.resolve("part"), "x");
        Path mine = temp("out.json", "export", live);
        Path otherWriter = temp("out.json", "report", gone);
        Path otherTarget = temp("other.json", "export", gone);
        Path lookalike = Files.writeString(dir.resolve(".out.json.export.tmp"), "the user's");
        Files.writeString(dir.resolve("out.json"), "done");

        PrintStream err = System.err;
        ByteArrayOutputStream said = new ByteArrayOutputStream();
        int removed;
        try {
            System.setErr(new PrintStream(said, true, StandardCharsets.UTF_8));
            removed = TempFiles.removeStale(dir.resolve("out.json"), "export");
        } finally {
            System.setErr(err);
        }
        assertEquals(2, removed);
        assertEquals(List.of(lookalike, mine, otherTarget, otherWriter, dir.resolve("out.json")).stream()
                .map(p -> p.getFileName().toString()).sorted().toList(), FileTrees.names(dir));
        String note = said.toString(StandardCharsets.UTF_8);
        assertEquals(1, note.lines().count(), note);
        assertTrue(note.startsWith("note: removed 2 temps [") && note.contains(stale.getFileName().toString())
                && note.contains(staleDir.getFileName().toString()) && note.strip().endsWith(" that a stopped run left beside "
                + dir.resolve("out.json").toAbsolutePath()), note);

        assertEquals(1, TempFiles.removeStaleIn(dir, "export"), "every target in the folder");
        assertEquals(0, TempFiles.removeStaleIn(dir, "export"));
        assertTrue(Files.exists(mine) && Files.exists(lookalike) && Files.exists(otherWriter));
    }

    @Test
    void anAtomicWriteReplacesItsTargetRemovesAStaleTempAndKeepsTheUmask() throws Exception {
        Path target = dir.resolve("sub").resolve("data.json");
        Files.createDirectories(target.getParent());
        Path stale = Files.writeString(target.resolveSibling(".data.json.datagen-" + EndedProcess.pid() + "-0000000000000001.tmp"), "{");
        byte[] bytes = new byte[100_000];
        TestSeeds.random().nextBytes(bytes);
        AtomicWrite.write(target, "datagen", bytes);
        assertArrayEquals(bytes, Files.readAllBytes(target));
        assertTrue(!Files.exists(stale));
        assertEquals(List.of("data.json"), FileTrees.names(target.getParent()));
        FilePermissions.assertUmaskDefault(target);
        Path copy = dir.resolve("copy.json");
        AtomicWrite.copy(target, copy, "datagen");
        assertArrayEquals(bytes, Files.readAllBytes(copy));
        FilePermissions.assertUmaskDefault(copy);
        Path folder = TempFiles.createDirectory(dir.resolve("model"), "import-gguf");
        FilePermissions.assertUmaskDefault(folder);
    }
}
