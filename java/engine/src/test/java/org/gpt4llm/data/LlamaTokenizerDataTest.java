package org.gpt4llm.data;

import static org.gpt4llm.model.TokenBatch.IGNORE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.gpt4llm.testing.SharedFiles;
import org.gpt4llm.tokenizer.Tokenizer;
import org.gpt4llm.tokenizer.Tokenizers;
import org.junit.jupiter.api.Test;

/** The real LLaMA-2 tokenizer on the real Alpaca-GPT4 data. */
class LlamaTokenizerDataTest {

    @Test
    void supervisedTokensAreExactlyTheOutputAndEos() throws IOException {
        try (Tokenizer tok = Tokenizers.load(SharedFiles.get("models/llama2-tokenizer"))) {
            InstructionReader.Loaded loaded = InstructionReader.read(List.of(SharedFiles.get("data/alpaca_gpt4_en_1k.json")), true);
            SftDataset d = SftDataset.encode(loaded.records(), List.of(), tok, SftDataset.Options.defaults());
            assertEquals(999, d.examples().size() + d.skipped().size());
            int checked = 0, merged = 0;
            for (int i = 0; i < d.examples().size(); i++) {
                Example e = d.examples().get(i);
                assertEquals(tok.bosId(), e.ids()[0]);
                int[] supervised = IntStream.range(0, e.length()).filter(j -> e.labels()[j] != IGNORE).map(j -> e.labels()[j]).toArray();
                IntStream.range(0, e.promptTokens()).forEach(j -> assertEquals(IGNORE, e.labels()[j]));
                if (e.ids()[e.length() - 1] != tok.eosId()) continue;  // truncated
                assertEquals(tok.eosId(), supervised[supervised.length - 1]);
                SftRecord r = loaded.records().stream().filter(x -> x.ref().equals(e.ref())).findFirst().orElseThrow();
                String output = r.turns().getFirst().response().strip();
                String trained = tok.decode(Arrays.copyOf(supervised, supervised.length - 1)).strip();
                // the whole output is trained on; a token merged across the boundary (':"') brings the prompt's last characters along
                assertTrue(trained.endsWith(output), e.ref().where() + " trains on " + trained);
                assertTrue((Template.ALPACA.prompt(r, 0) + output).endsWith(trained), e.ref().where() + " trains on " + trained);
                if (trained.length() > output.length()) merged++;
                checked++;
            }
            assertTrue(merged > 0 && merged < checked / 10, merged + " of " + checked + " examples merge a token across the boundary");
            assertTrue(checked > 900, "only " + checked + " examples fit in 512 tokens");
        }
    }
}
