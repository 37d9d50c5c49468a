package org.gpt4llm.eval.report;

/** HTML for the pages the project writes or serves (the HHH page, the demo report). */
public final class Html {
    private Html() {}

    /** Text as HTML text or attribute value: nothing in it can open a tag, end an attribute or start an entity. */
    public static String escape(String s) {
        StringBuilder b = new StringBuilder(s.length() + 16);
        for (int i = 0; i < s.length(); i++) {
            char ch = s.charAt(i);
            switch (ch) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(ch);
            }
        }
        return b.toString();
    }
}
