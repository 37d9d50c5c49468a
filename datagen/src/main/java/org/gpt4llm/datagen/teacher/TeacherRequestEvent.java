package org.gpt4llm.datagen.teacher;

import jdk.jfr.Category;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;

/**
 * One HTTP attempt of a teacher request on the JFR timeline: from sending the request to the end of
 * its answer (or its failure). The wait for the rate limiter and the backoff before a retry lie outside.
 */
@Name("org.gpt4llm.TeacherRequest")
@Label("Teacher request")
@Category({"gpt4llm", "Data collection"})
@Description("One HTTP attempt of a chat completion sent to the teacher")
final class TeacherRequestEvent extends Event {
    @Label("Model")
    String model;

    @Label("Attempt")
    @Description("1 for the first try of a request, 2 for its first retry, ...")
    int attempt;

    @Label("HTTP status")
    @Description("0 when no response came (timeout, dropped connection)")
    int status;

    @Label("Outcome")
    @Description("ok, or why the attempt failed: the status code, timeout, connection or malformed")
    String outcome;

    @Label("Prompt tokens")
    @Description("As the teacher counted them (-1 when it did not say or the attempt failed)")
    int promptTokens;

    @Label("Completion tokens")
    @Description("-1 when the attempt failed")
    int completionTokens;
}
