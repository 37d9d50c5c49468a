package org.gpt4llm.datagen.demo;

import java.time.DateTimeException;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The demo's task family: short rule-based tasks (add, subtract, reverse a word, sort numbers, count a
 * letter, upper-case words, rewrite a date, initials of words) whose answers a rule computes, so a
 * small model's answers can be checked exactly. Each category has a few instruction phrasings, so a
 * model has to read the instruction rather than the shape of the input; inputs and answers are short
 * (answers at most 24 characters) so a tiny model trained for minutes can learn several categories.
 *
 * <p>{@link #generate} is deterministic in its seed; {@link #solve} recognises any phrasing and
 * computes the answer from the input, so it also grades answers to tasks it did not generate.
 */
public final class DemoTasks {
    /** The longest answer {@link #generate} produces. */
    public static final int MAX_ANSWER_CHARS = 24;

    /** One rule: its phrasings, how to draw an input, and how to answer an input (empty when the input does not fit). */
    private record Category(String name, List<String> phrasings, Function<Random, String> input,
                            Function<String, Optional<String>> answer) {}

    private static final Pattern TWO_NUMBERS = Pattern.compile("(-?\\d{1,9})\\s*,\\s*(-?\\d{1,9})");
    private static final Pattern NUMBER_LIST = Pattern.compile("-?\\d{1,9}(?:\\s*,\\s*-?\\d{1,9})*");
    private static final Pattern LETTER_IN_WORD = Pattern.compile("letter (\\p{L}), word (\\p{L}+)");
    private static final Pattern ISO_DATE = Pattern.compile("(\\d{4})-(\\d{2})-(\\d{2})");

    /** Common English words, lower case, 3 to 8 letters. */
    static final List<String> WORDS = List.of(
           "able", "acid", "actor", "adult", "after", "again", "agent", "air", "alarm", "album", "alive", "angle",
           "animal", "answer", "apple", "april", "arena", "army", "arrow", "art", "aunt", "autumn", "baby", "back",
           "badge", "baker", "ball", "band", "bank", "basket", "bath", "beach", "bean", "bear", "beauty", "bed",
           "bell", "belt", "bench", "berry", "bike", "bird", "black", "blade", "blank", "blue", "board", "boat",
           "body", "bone", "book", "border", "bottle", "box", "brain", "bread", "brick", "bridge", "bright", "brother",
           "brown", "brush", "bucket", "butter", "button", "cabin", "cable", "cake", "camera", "camp", "candle",
           "candy", "canvas", "car", "card", "carpet", "carrot", "castle", "cat", "cave", "chair", "chalk", "cheese",
           "cherry", "chest", "chicken", "child", "circle", "city", "class", "clean", "clock", "cloud", "coast",
           "coat", "coffee", "coin", "cold", "color", "cook", "copper", "corn", "cotton", "country", "cousin", "cow",
           "crown", "cup", "dance", "danger", "dark", "daughter", "dawn", "desert", "desk", "dinner", "doctor", "dog",
           "door", "dragon", "dream", "dress", "drink", "drum", "duck", "eagle", "early", "earth", "east", "egg",
           "engine", "evening", "face", "family", "farm", "father", "feather", "fence", "field", "finger", "fire",
           "fish", "flag", "flame", "floor", "flower", "forest", "fork", "fox", "friend", "frog", "fruit", "game",
           "garden", "gate", "ghost", "gift", "girl", "glass", "glove", "gold", "grape", "grass", "green", "ground",
           "guitar", "hair", "hammer", "hand", "happy", "harbor", "hat", "heart", "heavy", "hill", "honey", "horse",
           "hotel", "house", "ice", "island", "jacket", "jelly", "jewel", "juice", "kettle", "key", "king", "kitchen",
           "kite", "knife", "ladder", "lake", "lamp", "leaf", "lemon", "letter", "light", "lion", "lizard", "long",
           "lunch", "magic", "mango", "map", "market", "metal", "milk", "mirror", "money", "monkey", "moon", "morning",
           "mother", "mountain", "mouse", "music", "nail", "needle", "nest", "night", "noise", "north", "nurse",
           "ocean", "office", "olive", "onion", "orange", "owl", "paint", "paper", "park", "parrot", "party", "peach",
           "pencil", "pepper", "piano", "picture", "pillow", "pilot", "pink", "planet", "plant", "plate", "pocket",
           "pond", "potato", "purple", "queen", "rabbit", "rain", "river", "road", "robot", "rock", "roof", "rose",
           "ruler", "salt", "sand", "school", "sea", "seed", "shadow", "sheep", "shell", "ship", "shirt", "shoe",
           "silver", "singer", "sister", "sky", "sleep", "smile", "snake", "snow", "soap", "socks", "soft", "song",
           "soup", "south", "spoon", "spring", "square", "star", "stone", "storm", "street", "sugar", "summer", "sun",
           "table", "tail", "teacher", "tent", "tiger", "toast", "tomato", "tooth", "towel", "tower", "town", "toy",
           "train", "tree", "truck", "turtle", "umbrella", "uncle", "valley", "violin", "wagon", "wall", "water",
           "whale", "wheel", "white", "wind", "window", "winter", "wolf", "wood", "world", "yellow", "young", "zebra");

    private static final List<Category> CATEGORIES = List.of(
            new Category("add", List.of(
                    "Add the two numbers.",
                    "What is the sum of these two numbers?",
                    "Compute the total of the two numbers below."),
                    r -> r.nextInt(100) + ", " + r.nextInt(100),
                    in -> twoNumbers(in).map(a -> Long.toString(a[0] + a[1]))),
            new Category("subtract", List.of(
                    "Subtract the second number from the first.",
                    "What is the first number minus the second?",
                    "Compute the difference of the two numbers (first minus second)."),
                    r -> {
                        int a = r.nextInt(100);
                        return a + ", " + r.nextInt(a + 1);
                    },
                    in -> twoNumbers(in).map(a -> Long.toString(a[0] - a[1]))),
            new Category("reverse", List.of(
                    "Reverse the letters of the word.",
                    "Spell the word backwards.",
                    "Write the word with its letters in reverse order."),
                    r -> word(r),
                    in -> in.isEmpty() || in.chars().anyMatch(Character::isWhitespace)
                            ? Optional.empty() : Optional.of(new StringBuilder(in).reverse().toString())),
            new Category("sort", List.of(
                    "Sort the numbers in ascending order.",
                    "Arrange these numbers from smallest to largest.",
                    "List the numbers sorted from low to high."),
                    r -> {
                        int k = 3 + r.nextInt(4);
                        List<String> xs = new ArrayList<>();
                        for (int i = 0; i < k; i++) xs.add(Integer.toString(r.nextInt(100)));
                        return String.join(", ", xs);
                    },
                    in -> NUMBER_LIST.matcher(in).matches()
                            ? Optional.of(Arrays.stream(in.split(",")).map(String::strip).mapToLong(Long::parseLong).sorted()
                                    .mapToObj(Long::toString).collect(Collectors.joining(", ")))
                            : Optional.empty()),
            new Category("count", List.of(
                    "Count how many times the letter occurs in the word.",
                    "How many times does the given letter appear in the word?",
                    "Give the number of occurrences of the letter in the word."),
                    r -> {
                        String w = word(r);
                        // mostly a letter of the word; sometimes one it lacks (answer 0)
                        char c = r.nextInt(5) > 0 ? w.charAt(r.nextInt(w.length())) : (char) ('a' + r.nextInt(26));
                        return "letter " + c + ", word " + w;
                    },
                    in -> {
                        Matcher m = LETTER_IN_WORD.matcher(in);
                        if (!m.matches()) return Optional.empty();
                        int letter = m.group(1).codePointAt(0);
                        return Optional.of(Long.toString(m.group(2).codePoints().filter(c -> c == letter).count()));
                    }),
            new Category("uppercase", List.of(
                    "Convert the words to upper case.",
                    "Write the words in capital letters.",
                    "Rewrite the text in uppercase."),
                    r -> {
                        String s;
                        do s = words(r, 2 + r.nextInt(2)); while (s.length() > 20);
                        return s;
                    },
                    in -> in.isBlank() ? Optional.empty() : Optional.of(in.toUpperCase(Locale.ROOT))),
            new Category("date", List.of(
                    "Convert the date from YYYY-MM-DD to DD/MM/YYYY.",
                    "Rewrite the date in day/month/year format.",
                    "Write this date as DD/MM/YYYY."),
                    r -> {
                        LocalDate d = LocalDate.of(1950 + r.nextInt(100), 1 + r.nextInt(12), 1);
                        return d.withDayOfMonth(1 + r.nextInt(d.lengthOfMonth())).toString();
                    },
                    in -> {
                        Matcher m = ISO_DATE.matcher(in);
                        if (!m.matches()) return Optional.empty();
                        try {
                            LocalDate.of(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
                        } catch (DateTimeException e) {
                            return Optional.empty();
                        }
                        return Optional.of(m.group(3) + "/" + m.group(2) + "/" + m.group(1));
                    }),
            new Category("initials", List.of(
                    "Write the first letter of each word.",
                    "Give the initials of the words.",
                    "List the first letter of every word, without spaces."),
                    r -> words(r, 3 + r.nextInt(3)),
                    in -> in.isBlank() ? Optional.empty()
                            : Optional.of(Arrays.stream(in.split("\\s+")).map(w -> w.substring(0, 1)).collect(Collectors.joining()))));

    /** Category by phrasing, the phrasing lower-cased. */
    private static final Map<String, Category> BY_PHRASING = new LinkedHashMap<>();

    static {
        for (Category c : CATEGORIES) {
            for (String p : c.phrasings()) {
                if (BY_PHRASING.put(p.toLowerCase(Locale.ROOT), c) != null) throw new AssertionError("phrasing used twice: " + p);
            }
        }
    }

    private DemoTasks() {}

    /** The category names, in a fixed order. */
    public static List<String> categories() {
        return CATEGORIES.stream().map(Category::name).toList();
    }

    /** The instruction phrasings of {@code category}. */
    public static List<String> phrasings(String category) {
        return CATEGORIES.stream().filter(c -> c.name().equals(category)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no demo category " + category + "; there are " + categories()))
                .phrasings();
    }

    /** What tells two tasks apart: the instruction and the input. */
    public static String key(String instruction, String input) {
        return instruction + "\u0000" + input;
    }

    /** The keys of {@code tasks}, to exclude them from another {@link #generate}. */
    public static Set<String> keys(List<DemoTask> tasks) {
        Set<String> out = new HashSet<>();
        for (DemoTask t : tasks) out.add(t.key());
        return out;
    }

    /** The category whose phrasing {@code instruction} is (case and surrounding blanks aside), if any. */
    public static Optional<String> categoryOf(String instruction) {
        return instruction == null ? Optional.empty()
                : Optional.ofNullable(BY_PHRASING.get(instruction.strip().toLowerCase(Locale.ROOT))).map(Category::name);
    }

    /**
     * The rule's answer to {@code instruction} and {@code input}; empty when the instruction is none of
     * the family's phrasings or the input does not fit its category.
     */
    public static Optional<String> solve(String instruction, String input) {
        if (instruction == null || input == null) return Optional.empty();
        Category c = BY_PHRASING.get(instruction.strip().toLowerCase(Locale.ROOT));
        return c == null ? Optional.empty() : c.answer().apply(input.strip());
    }

    /** {@code n} distinct tasks, categories taking turns (each block of turns shuffled), deterministic in {@code seed}. */
    public static List<DemoTask> generate(int n, long seed) {
        return generate(n, seed, Set.of());
    }

    /**
     * As {@link #generate(int, long)}, but with no task whose {@link #key} is in {@code exclude}: a
     * held-out set disjoint from a training set is {@code generate(m, otherSeed, keys(train))}.
     *
     * @throws IllegalArgumentException when a category has too few distinct tasks left for {@code n}
     */
    public static List<DemoTask> generate(int n, long seed, Set<String> exclude) {
        if (n < 0) throw new IllegalArgumentException("the number of demo tasks must be at least 0, got " + n);
        Random random = new Random(seed);
        Set<String> seen = new HashSet<>();
        List<DemoTask> out = new ArrayList<>(n);
        List<Category> turn = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (turn.isEmpty()) {
                turn.addAll(CATEGORIES);
                Collections.shuffle(turn, random);
            }
            Category c = turn.removeFirst();
            DemoTask task = null;
            for (int attempt = 0; attempt < 20_000 && task == null; attempt++) {
                String instruction = c.phrasings().get(random.nextInt(c.phrasings().size()));
                String input = c.input().apply(random);
                String key = key(instruction, input);
                if (exclude.contains(key) || !seen.add(key)) continue;
                String answer = c.answer().apply(input).orElseThrow();
                task = new DemoTask("demo-" + seed + "-" + i, c.name(), instruction, input, answer);
            }
            if (task == null) {
                throw new IllegalArgumentException("the demo category " + c.name() + " has no distinct tasks left after "
                        + out.size() + " of " + n + " (" + exclude.size() + " excluded); ask for fewer tasks");
            }
            out.add(task);
        }
        return out;
    }

    private static String word(Random r) {
        return WORDS.get(r.nextInt(WORDS.size()));
    }

    private static String words(Random r, int k) {
        List<String> ws = new ArrayList<>(k);
        for (int i = 0; i < k; i++) ws.add(word(r));
        return String.join(" ", ws);
    }

    private static Optional<long[]> twoNumbers(String in) {
        Matcher m = TWO_NUMBERS.matcher(in);
        return m.matches() ? Optional.of(new long[] {Long.parseLong(m.group(1)), Long.parseLong(m.group(2))}) : Optional.empty();
    }
}
