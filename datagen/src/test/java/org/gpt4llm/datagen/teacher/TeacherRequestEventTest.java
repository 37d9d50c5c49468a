package org.gpt4llm.datagen.teacher;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.gpt4llm.datagen.teacher.FakeTeacherServer.Failure;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every HTTP attempt of a teacher request is one {@code org.gpt4llm.TeacherRequest} JFR event. */
class TeacherRequestEventTest {
    @Test
    void aRetriedRequestRecordsTheFailedAttemptAndTheAnswer(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("teacher.jfr");
        try (FakeTeacherServer server = new FakeTeacherServer(0).fail(1, Failure.SERVER_ERROR).start();
             Recording rec = new Recording()) {
            rec.enable("org.gpt4llm.TeacherRequest");
            rec.start();
            TeacherOptions options = TeacherOptions.defaults("gpt-4-test").withApiBase(server.apiBase())
                    .withKey("TEST_TEACHER_KEY", Map.of("TEST_TEACHER_KEY", "sk-test")::get)
                    .withTimeout(Duration.ofSeconds(5))
                    .withRetries(3, Duration.ofMillis(5), Duration.ofMillis(20));
            ChatResponse answer = new OpenAiTeacher(options).chat(ChatRequest.of("Name a colour.", 0, 64));
            rec.stop();
            rec.dump(file);
            assertEquals(2, answer.attempts());

            List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
                    .filter(e -> e.getEventType().getName().equals("org.gpt4llm.TeacherRequest")).toList();
            assertEquals(2, events.size(), events.toString());
            RecordedEvent failed = events.get(0), ok = events.get(1);
            assertEquals("gpt-4-test", failed.getString("model"));
            assertEquals(1, failed.getInt("attempt"));
            assertEquals(500, failed.getInt("status"));
            assertEquals("500", failed.getString("outcome"));
            assertEquals(-1, failed.getInt("completionTokens"));
            assertEquals(2, ok.getInt("attempt"));
            assertEquals(200, ok.getInt("status"));
            assertEquals("ok", ok.getString("outcome"));
            assertEquals(answer.promptTokens(), ok.getInt("promptTokens"));
            assertEquals(answer.completionTokens(), ok.getInt("completionTokens"));
        }
    }
}
