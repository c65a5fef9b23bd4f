// The MTP context's copy of the sequence: every target pass is mirrored into
// it, or, while the automatic depth keeps it idle, queued in the lag and
// mirrored in one batch when drafting resumes.

#include <algorithm>

#include "session.h"

namespace session_internal {

// Mirror into the MTP context the positions it skipped while idle.
bool flush_lag(llamamtp_session * s) {
    const int32_t n_lag = (int32_t) s->lag_tokens.size();
    if (n_lag == 0) {
        return true;
    }
    const auto start = clock_type::now();
    bool ok = true;
    for (int32_t offset = 0; offset < n_lag && ok; offset += s->n_batch) {
        llama_batch_ext_clear(s->batch_mtp);
        for (int32_t i = offset; i < std::min(n_lag, offset + s->n_batch) && ok; i++) {
            ok = batch_add(s->batch_mtp, s->lag_tokens[i], s->lag_pos[i], false,
                           s->lag_h.data() + (size_t) i * s->n_embd, s->n_embd);
        }
        ok = ok && process(s->ctx_mtp, s->batch_mtp, "MTP");
    }
    s->lag_tokens.clear();
    s->lag_pos.clear();
    s->lag_h.clear();
    s->t_lag_flush = seconds_since(start);
    s->stats.t_catchup += s->t_lag_flush;
    return ok;
}

// Keep the target's h rows of its last pass (n_tokens rows) in batch_h.
bool read_target_h(llamamtp_session * s, int32_t n_tokens) {
    const float * h_tgt = llamamtp_get_embeddings_nextn_ith(s->ctx_tgt, 0);
    if (h_tgt == nullptr) {
        shim_set_error("the target context produced no NextN hidden state");
        return false;
    }
    s->batch_h.assign(h_tgt, h_tgt + (size_t) n_tokens * s->n_embd);
    return true;
}

// Mirror the target's last pass (tokens at pos0, pos0 + 1, ...) into the MTP
// context, then keep the target's h rows of that pass in batch_h. While the
// MTP context is idle, the tokens only join the lag.
bool catch_up(llamamtp_session * s, const llama_token * tokens, int32_t n_tokens, llama_pos pos0) {
    if (!read_target_h(s, n_tokens)) {
        return false;
    }
    if (s->mtp_idle) {
        for (int32_t i = 0; i < n_tokens; i++) {
            const float * h = i == 0 ? s->pending_h.data() : s->batch_h.data() + (size_t) (i - 1) * s->n_embd;
            s->lag_tokens.push_back(tokens[i]);
            s->lag_pos.push_back(pos0 + i);
            s->lag_h.insert(s->lag_h.end(), h, h + s->n_embd);
        }
        // Bounded memory: a full batch of lag is mirrored at once, which costs little per token.
        // NOTE: little is not nothing: on the 0.8B oracle (2 threads) a mirrored lag token cost
        // about 0.4 ms against a 37 ms plain step, so long plain stretches pay about 1 %.
        return (int32_t) s->lag_tokens.size() < s->n_batch || flush_lag(s);
    }
    if (!flush_lag(s)) {
        return false;
    }

    llama_batch_ext_clear(s->batch_mtp);
    for (int32_t i = 0; i < n_tokens; i++) {
        const float * h = i == 0 ? s->pending_h.data() : s->batch_h.data() + (size_t) (i - 1) * s->n_embd;
        if (!batch_add(s->batch_mtp, tokens[i], pos0 + i, false, h, s->n_embd)) {
            return false;
        }
    }

    const auto start = clock_type::now();
    const bool ok = process(s->ctx_mtp, s->batch_mtp, "MTP");
    s->stats.t_catchup += seconds_since(start);
    return ok;
}

// Forget lag entries at positions >= pos.
void trim_lag(llamamtp_session * s, llama_pos pos) {
    size_t keep = 0;
    while (keep < s->lag_pos.size() && s->lag_pos[keep] < pos) {
        keep++;
    }
    s->lag_tokens.resize(keep);
    s->lag_pos.resize(keep);
    s->lag_h.resize(keep * s->n_embd);
}

}  // namespace session_internal
