// History, logits, rewind/restore and statistics of a session.

#include <algorithm>

#include "session.h"

using namespace session_internal;

extern "C" int32_t llamamtp_session_get_depth_stats(const struct llamamtp_session * s, struct llamamtp_depth_stats * out) {
    if (s->controller == nullptr) {
        shim_set_error("this session has no automatic draft depth");
        return LLAMAMTP_ERR_INVALID;
    }
    const depth_controller & c = *s->controller;
    *out = llamamtp_depth_stats{};
    out->last_depth = c.last_depth();
    out->mtp_idle = s->mtp_idle;
    out->n_lag = (int32_t) s->lag_tokens.size();
    const int32_t n = std::min<int32_t>(s->n_draft_max, LLAMAMTP_MAX_DEPTH);
    for (int32_t d = 0; d <= n; d++) {
        out->histogram[d] = c.histogram()[d];
        out->expected_rate[d] = c.expected_rate(d);
    }
    for (int32_t j = 1; j <= n; j++) {
        out->acceptance[j - 1] = c.acceptance(j);
    }
    out->verify_seconds_1 = c.verify_seconds(1);
    out->verify_seconds_per_token = n > 0 ? c.verify_seconds(2) - c.verify_seconds(1) : 0.0;
    out->draft_seconds_per_token = c.draft_seconds();
    out->catchup_seconds_per_token = c.catchup_seconds(1);
    out->sample_seconds_per_token = c.sample_seconds();
    return LLAMAMTP_OK;
}

extern "C" int32_t llamamtp_session_n_past(const struct llamamtp_session * s) {
    return s->n_past;
}

extern "C" llama_token llamamtp_session_pending(const struct llamamtp_session * s) {
    return s->pending;
}

extern "C" void llamamtp_session_get_stats(const struct llamamtp_session * s, struct llamamtp_stats * out) {
    *out = s->stats;
}

extern "C" int32_t llamamtp_session_n_tokens(const struct llamamtp_session * s) {
    return (int32_t) s->history.size();
}

extern "C" int32_t llamamtp_session_tokens(const struct llamamtp_session * s, llama_token * out, int32_t capacity) {
    const int32_t n = std::min<int32_t>(capacity, (int32_t) s->history.size());
    std::copy(s->history.begin(), s->history.begin() + n, out);
    return n;
}

extern "C" int32_t llamamtp_session_rewind(struct llamamtp_session * s, int32_t n_keep) {
    const int32_t n_tokens = (int32_t) s->history.size();
    if (n_keep < 0 || n_keep > n_tokens) {
        shim_set_error("n_keep must be in [0, %d], got %d", n_tokens, n_keep);
        return LLAMAMTP_ERR_INVALID;
    }
    if (n_keep == n_tokens) {
        return LLAMAMTP_OK;
    }
    if (n_keep == 0) {
        llamamtp_session_reset(s);
        return LLAMAMTP_OK;
    }
    // The kept token at n_keep - 1 becomes pending again, so it leaves memory too.
    const int32_t n_past = n_keep - 1;
    if (n_past < s->n_past) {
        if (s->n_past - n_past > s->n_removable) {
            shim_set_error("the recurrent state of %d positions back is no longer kept", s->n_past - n_past);
            return LLAMAMTP_ERR_ROLLBACK;
        }
        if (!remove_after(s, n_past)) {
            return LLAMAMTP_ERR_ROLLBACK;
        }
        s->n_removable = s->has_snapshots ? 0 : s->n_removable - (s->n_past - n_past);
    }
    s->n_past = n_past;
    s->pending = s->history[n_keep - 1];
    s->history.resize(n_keep);
    s->n_logits = 0;
    if (s->ctx_mtp != nullptr) {
        // NOTE: the target's hidden state at n_past - 1 is gone, so the next MTP
        // pass reads zeros there. That can lower acceptance for a step or two but
        // never changes the output, which verification decides.
        std::fill(s->pending_h.begin(), s->pending_h.end(), 0.0f);
    }
    return LLAMAMTP_OK;
}

extern "C" void llamamtp_session_set_keep_logits(struct llamamtp_session * s, bool value) {
    s->keep_logits = value;
    s->n_logits = 0;
}

extern "C" const float * llamamtp_session_logits(const struct llamamtp_session * s, int32_t i) {
    if (i < 0 || i >= s->n_logits) {
        return nullptr;
    }
    return s->logits.data() + (size_t) i * s->n_vocab;
}

extern "C" int32_t llamamtp_session_n_embd(const struct llamamtp_session * s) {
    return s->ctx_mtp != nullptr ? s->n_embd : 0;
}

extern "C" void llamamtp_session_get_pending_h(const struct llamamtp_session * s, float * out) {
    std::copy(s->pending_h.begin(), s->pending_h.end(), out);
}

extern "C" int32_t llamamtp_session_restore(struct llamamtp_session * s, const llama_token * tokens, int32_t n_tokens, const float * pending_h) {
    if (n_tokens < 0 || n_tokens > s->n_ctx + 1 || !tokens_valid(s, tokens, n_tokens)) {
        shim_set_error("cannot restore %d tokens into a session of n_ctx=%d", n_tokens, s->n_ctx);
        return LLAMAMTP_ERR_INVALID;
    }
    s->history.assign(tokens, tokens + n_tokens);
    // The caller replaced the memory, so no checkpoint matches it any more.
    s->prompt_checkpoints.clear();
    s->n_past = std::max(0, n_tokens - 1);
    s->pending = n_tokens > 0 ? tokens[n_tokens - 1] : -1;
    s->n_logits = 0;
    // Attention memory can drop any suffix; restored recurrent state has no snapshots.
    s->n_removable = s->has_snapshots || s->rollback_by_checkpoint ? 0 : s->n_ctx;
    if (s->ctx_mtp != nullptr && pending_h != nullptr) {
        std::copy(pending_h, pending_h + s->n_embd, s->pending_h.begin());
    }
    return LLAMAMTP_OK;
}
