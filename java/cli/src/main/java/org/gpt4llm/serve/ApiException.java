package org.gpt4llm.serve;

/**
 * A request the server refuses, answered as OpenAI's {@code {"error": {message, type, param, code}}}
 * with {@code status}.
 */
final class ApiException extends RuntimeException {
    final int status;
    final String type;
    final String param;
    final String code;

    ApiException(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400: the request itself is wrong. */
    static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }

    static ApiException invalidValue(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, "invalid_value", message);
    }

    static ApiException contextLength(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, "context_length_exceeded", message);
    }

    static ApiException unsupported(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, "unsupported_parameter", message);
    }

    static ApiException overloaded(String message) {
        return new ApiException(503, "server_error", null, "server_overloaded", message);
    }
}
