package org.gpt4llm.serve;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.gpt4llm.data.RecordRef;
import org.gpt4llm.data.SftEncoder;
import org.gpt4llm.data.SftRecord;
import org.gpt4llm.data.SftRecord.DataFormat;
import org.gpt4llm.data.Template;
import org.gpt4llm.data.Turn;
import org.gpt4llm.tokenizer.Tokenizer;

/**
 * A chat request's messages as the prompt ids the model was fine-tuned on: the conversation becomes
 * an {@link SftRecord} (system messages first, each user message with the assistant answer after it
 * as one turn, the last user message a turn without answer) and is tokenised by {@link SftEncoder}
 * with {@link Template#CHAT}, exactly as in training, minus the EOS after the still unanswered turn.
 */
final class ChatPrompt {
    /** Where the request's conversation is said to come from in messages about it. */
    private static final RecordRef REQUEST = new RecordRef(Path.of("messages"), 0, 0);

    /** A chat message: role system, developer (as system), user or assistant. */
    record Message(String role, String content) {}

    private ChatPrompt() {
    }

    /** The prompt ids of {@code messages}; the one place a different chat template would plug in. */
    static int[] encode(Tokenizer tokenizer, List<Message> messages) {
        SftRecord record = conversation(messages);
        int[] ids = new SftEncoder(tokenizer, Template.CHAT, Integer.MAX_VALUE, false).encode(record).ids();
        // the last turn has no answer yet: the model writes it, so its EOS goes
        return tokenizer.eosId() >= 0 ? Arrays.copyOf(ids, ids.length - 1) : ids;
    }

    static SftRecord conversation(List<Message> messages) {
        if (messages.isEmpty()) throw ApiException.invalid("messages", "messages must hold at least one message");
        List<String> system = new ArrayList<>();
        List<Turn> turns = new ArrayList<>();
        StringBuilder user = null;  // the user text of the turn being built
        for (int i = 0; i < messages.size(); i++) {
            Message m = messages.get(i);
            switch (m.role()) {
                case "system", "developer" -> {
                    if (!turns.isEmpty() || user != null) {
                        throw ApiException.invalidValue("messages[" + i + "].role",
                                "a " + m.role() + " message must come before the user and assistant messages");
                    }
                    system.add(m.content());
                }
                case "user" -> user = user == null ? new StringBuilder(m.content()) : user.append("\n\n").append(m.content());
                case "assistant" -> {
                    if (user == null) {
                        throw ApiException.invalidValue("messages[" + i + "].role",
                                "an assistant message must follow a user message");
                    }
                    turns.add(new Turn(user.toString(), "", m.content()));
                    user = null;
                }
                default -> throw ApiException.invalidValue("messages[" + i + "].role",
                        "role '" + m.role() + "' is not one of system, developer, user, assistant");
            }
        }
        if (user == null) throw ApiException.invalidValue("messages", "the last message must be a user message");
        turns.add(new Turn(user.toString(), "", ""));
        return new SftRecord(REQUEST, DataFormat.SHAREGPT, String.join("\n\n", system), turns);
    }
}
