// llama.cpp log routing: remember the last error per thread, forward the rest
// to Python's logging only at or above the level Python asked for, so that
// debug chatter during decoding never pays for a trip into the interpreter.

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "shim.h"

namespace {

std::atomic<int32_t> g_min_level{GGML_LOG_LEVEL_ERROR + 1};

// Per thread, so that a message from a worker thread cannot overwrite the
// error a caller is about to read.
// Error messages since the last llamamtp_clear_error(), oldest first: the first
// one usually names the cause, the last one only the call that failed.
thread_local std::string t_last_error;
constexpr size_t k_max_error_bytes = 4096;
thread_local bool t_in_error = false;
thread_local bool t_forwarding = false;

void log_callback(enum ggml_log_level level, const char * text, void * /*user_data*/) {
    if (text == nullptr) {
        return;
    }

    // GGML_LOG_LEVEL_CONT continues the previous message at its level.
    if (level == GGML_LOG_LEVEL_CONT) {
        if (t_in_error && t_last_error.size() < k_max_error_bytes) {
            t_last_error += text;
        }
    } else {
        t_in_error = level == GGML_LOG_LEVEL_ERROR;
        if (t_in_error && t_last_error.size() < k_max_error_bytes) {
            t_last_error += text;
        }
        t_forwarding = level >= g_min_level.load(std::memory_order_relaxed);
    }

    if (t_forwarding) {
        llamamtp_py_log(level, text);
    }
}

}  // namespace

extern "C" void llamamtp_log_install(int32_t min_level) {
    g_min_level.store(min_level, std::memory_order_relaxed);
    llama_log_set(log_callback, nullptr);
}

extern "C" const char * llamamtp_last_error(void) {
    return t_last_error.c_str();
}

extern "C" void llamamtp_clear_error(void) {
    t_last_error.clear();
    t_in_error = false;
}

void shim_set_error(const char * format, ...) {
    char buffer[512];
    va_list args;
    va_start(args, format);
    vsnprintf(buffer, sizeof(buffer), format, args);
    va_end(args);

    if (t_last_error.size() < k_max_error_bytes) {
        t_last_error += buffer;
        t_last_error += "\n";
    }
}
