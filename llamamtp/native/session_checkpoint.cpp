// Prompt checkpoints: the state after the first n_past tokens of a prompt, on
// a model with recurrent layers, saved so that a later prompt sharing those
// tokens resumes there instead of decoding them again. llama.cpp rolls a
// recurrent state back only within the snapshots of the last ubatch
// (n_rs_seq), while attention memory can drop any suffix. So a checkpoint
// contains the recurrent part of the target's memory (a partial sequence
// state) and the MTP context's input for the next position. The MTP context
// has attention memory only and needs no copy.

#include <algorithm>

#include "session.h"

using namespace session_internal;

namespace session_internal {

void drop_prompt_checkpoints_after(llamamtp_session * s, llama_pos pos) {
    auto & list = s->prompt_checkpoints;
    list.erase(std::remove_if(list.begin(), list.end(),
                              [pos](const prompt_checkpoint & c) { return c.n_past > pos; }),
               list.end());
}

}  // namespace session_internal

namespace {

constexpr llama_state_seq_flags k_partial = LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY;

// Remove checkpoint it from the list and return it, so that its buffers are
// reused: a checkpoint of a 4B-sized Qwen3.5 model takes about 50 MiB.
prompt_checkpoint take(std::vector<prompt_checkpoint> & list, std::vector<prompt_checkpoint>::iterator it) {
    prompt_checkpoint checkpoint = std::move(*it);
    list.erase(it);
    return checkpoint;
}

}  // namespace

extern "C" int32_t llamamtp_session_save_checkpoint(struct llamamtp_session * s, int32_t n_max) {
    if (!s->has_recurrent) {
        shim_set_error("this model has no recurrent layers, so its memory can drop any positions and needs no checkpoints");
        return LLAMAMTP_ERR_INVALID;
    }
    if (n_max < 1) {
        shim_set_error("n_max must be at least 1, got %d", n_max);
        return LLAMAMTP_ERR_INVALID;
    }
    if (s->n_past == 0) {
        shim_set_error("nothing is decoded yet: prefill the session before saving a checkpoint");
        return LLAMAMTP_ERR_INVALID;
    }

    const auto start = clock_type::now();
    auto & list = s->prompt_checkpoints;
    prompt_checkpoint checkpoint;
    const auto same = std::find_if(list.begin(), list.end(),
                                   [s](const prompt_checkpoint & c) { return c.n_past == s->n_past; });
    if (same != list.end()) {
        checkpoint = take(list, same);
    }
    while ((int32_t) list.size() >= n_max) {
        checkpoint = take(list, list.begin());
    }

    checkpoint.n_past = s->n_past;
    checkpoint.recurrent.resize(llama_state_seq_get_size_ext(s->ctx_tgt, k_seq, k_partial));
    const size_t written = llama_state_seq_get_data_ext(s->ctx_tgt, checkpoint.recurrent.data(),
                                                        checkpoint.recurrent.size(), k_seq, k_partial);
    if (written != checkpoint.recurrent.size()) {
        shim_set_error("saving the recurrent state failed (%zu of %zu bytes)", written, checkpoint.recurrent.size());
        return LLAMAMTP_ERR_ROLLBACK;
    }
    checkpoint.pending_h = s->pending_h;
    list.push_back(std::move(checkpoint));
    s->stats.t_prefill += seconds_since(start);
    return LLAMAMTP_OK;
}

extern "C" int32_t llamamtp_session_checkpoints(const struct llamamtp_session * s, int32_t * n_past, size_t * sizes, int32_t capacity) {
    const auto & list = s->prompt_checkpoints;
    const int32_t n = std::min<int32_t>(capacity, (int32_t) list.size());
    for (int32_t i = 0; i < n; i++) {
        if (n_past != nullptr) {
            n_past[i] = list[i].n_past;
        }
        if (sizes != nullptr) {
            sizes[i] = list[i].recurrent.size() + list[i].pending_h.size() * sizeof(float);
        }
    }
    return (int32_t) list.size();
}

extern "C" int32_t llamamtp_session_load_checkpoint(struct llamamtp_session * s, int32_t n_past, llama_token pending) {
    auto & list = s->prompt_checkpoints;
    const auto it = std::find_if(list.begin(), list.end(),
                                 [n_past](const prompt_checkpoint & c) { return c.n_past == n_past; });
    if (it == list.end()) {
        shim_set_error("there is no checkpoint at n_past=%d", n_past);
        return LLAMAMTP_ERR_INVALID;
    }
    if (!tokens_valid(s, &pending, 1)) {
        return LLAMAMTP_ERR_INVALID;
    }

    // The recurrent state goes first: it then ends at position n_past - 1, so
    // removing the later positions touches only attention memory. The other
    // order would request a rollback that the recurrent layers cannot do.
    const auto start = clock_type::now();
    const size_t read = llama_state_seq_set_data_ext(s->ctx_tgt, it->recurrent.data(), it->recurrent.size(), k_seq, k_partial);
    if (read != it->recurrent.size()) {
        shim_set_error("restoring the recurrent state at n_past=%d failed (%zu of %zu bytes)", n_past, read,
                       it->recurrent.size());
        return LLAMAMTP_ERR_ROLLBACK;
    }
    if (s->ctx_mtp != nullptr) {
        std::copy(it->pending_h.begin(), it->pending_h.end(), s->pending_h.begin());
    }
    // Invalidates it: checkpoints past n_past are dropped.
    if (!remove_after(s, n_past)) {
        return LLAMAMTP_ERR_ROLLBACK;
    }

    s->n_past = n_past;
    s->pending = pending;
    s->history.resize(n_past);
    s->history.push_back(pending);
    s->n_logits = 0;
    // The restored state comes without rollback snapshots.
    s->n_removable = 0;
    s->stats.t_prefill += seconds_since(start);
    return LLAMAMTP_OK;
}
