package org.gpt4llm.generate.jinja;

/**
 * Why a template cannot be compiled or rendered, in one sentence that names the template and the line; or the
 * template's own refusal, from {@code raise_exception(...)}, whose sentence is {@link #detail()}.
 */
public final class TemplateError extends IllegalArgumentException {
    private final String detail;
    private final boolean raisedByTemplate;
    private int line;
    private String templateName;

    TemplateError(String detail) {
        this(detail, false, null);
    }

    TemplateError(String detail, boolean raisedByTemplate, Throwable cause) {
        super(detail, cause);
        this.detail = detail;
        this.raisedByTemplate = raisedByTemplate;
    }

    static TemplateError raised(String message) {
        return new TemplateError(message, true, null);
    }

    /** The sentence without template name and line; for {@code raise_exception}, the template's message. */
    public String detail() {
        return detail;
    }

    /** Whether the template itself refused (by {@code raise_exception}), as opposed to failing to render. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }

    /** The template line the error is on, 0 when not known. */
    public int line() {
        return line;
    }

    /** Records the line of the innermost construct that failed; outer ones leave it. */
    TemplateError atLine(int line) {
        if (this.line == 0) this.line = line;
        return this;
    }

    TemplateError in(String templateName) {
        if (this.templateName == null) this.templateName = templateName;
        return this;
    }

    @Override
    public String getMessage() {
        String name = templateName == null ? "template" : templateName;
        if (raisedByTemplate) return "the " + name + " refused the conversation: " + detail;
        return name + (line > 0 ? " line " + line : "") + ": " + detail;
    }
}
