// Undoing the rejected part of a verify pass: through llama.cpp's recurrent
// snapshots (n_rs_seq) or, where an architecture has none, by restoring a
// saved state and decoding the accepted tokens again.

#include <algorithm>

#include "session.h"

// llama.cpp offers no call to change n_rs_seq after a context is made.
#include "llama-context.h"

namespace session_internal {

// Decode batch_tgt on the target context. A single-token pass leaves nothing
// to remove (removable_after_pass returns 0), so its graph is built with
// n_rs_seq 0 and writes no recurrent snapshots, only the state the next pass
// reads. llama.cpp reuses a graph only for passes of the same width, so each
// width keeps one setting, and the setting is restored after the pass. The
// snapshots made a plain step of the 0.8B oracle 2 to 5 % slower (2 threads).
// NOTE: this writes llama_context::cparams through its const getter. The
// hash-pinned llama.cpp of build.py has that field, and a newer one may not.
bool decode_target(llamamtp_session * s, int32_t n_tokens) {
    if (!s->has_snapshots || n_tokens > 1) {
        return process(s->ctx_tgt, s->batch_tgt, "target");
    }
    uint32_t & n_rs_seq = const_cast<llama_cparams &>(s->ctx_tgt->get_cparams()).n_rs_seq;
    n_rs_seq = 0;
    const bool ok = process(s->ctx_tgt, s->batch_tgt, "target");
    n_rs_seq = (uint32_t) s->n_rs_seq;
    return ok;
}

// Trailing positions that can be removed after a target pass of n_tokens.
int32_t removable_after_pass(const llamamtp_session * s, int32_t n_tokens) {
    if (!s->has_snapshots) {
        return s->rollback_by_checkpoint ? 0 : s->n_ctx;
    }
    const int32_t last_ubatch = (n_tokens - 1) % s->n_ubatch + 1;
    return std::min(s->n_rs_seq, last_ubatch - 1);
}

// Drop positions >= pos from both contexts, and the prompt checkpoints that
// need them. On hybrid models with n_rs_seq snapshots this also restores the
// recurrent state at pos - 1.
bool remove_after(llamamtp_session * s, llama_pos pos) {
    trim_lag(s, pos);
    if (!llama_memory_seq_rm(llama_get_memory(s->ctx_tgt), k_seq, pos, -1)) {
        shim_set_error("the target context could not remove positions from %d on", pos);
        return false;
    }
    if (s->ctx_mtp != nullptr && !llama_memory_seq_rm(llama_get_memory(s->ctx_mtp), k_seq, pos, -1)) {
        shim_set_error("the MTP context could not remove positions from %d on", pos);
        return false;
    }
    drop_prompt_checkpoints_after(s, pos);
    return true;
}

bool save_checkpoint(llamamtp_session * s) {
    const llama_state_seq_flags flags = LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY;
    s->checkpoint.resize(llama_state_seq_get_size_ext(s->ctx_tgt, k_seq, flags));
    const size_t written = llama_state_seq_get_data_ext(s->ctx_tgt, s->checkpoint.data(), s->checkpoint.size(), k_seq, flags);
    if (written != s->checkpoint.size()) {
        shim_set_error("saving the recurrent state failed (%zu of %zu bytes)", written, s->checkpoint.size());
        return false;
    }
    return true;
}

// Undo a verify pass on a model without recurrent snapshots: restore the state
// saved before it, then decode the n_keep tokens that were accepted. The MTP
// context already mirrored them during the verify pass.
bool roll_back_to_checkpoint(llamamtp_session * s, const llama_token * tokens, int32_t n_keep) {
    const llama_state_seq_flags flags = LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY;
    const size_t read = llama_state_seq_set_data_ext(s->ctx_tgt, s->checkpoint.data(), s->checkpoint.size(), k_seq, flags);
    if (read != s->checkpoint.size()) {
        shim_set_error("restoring the recurrent state failed (%zu of %zu bytes)", read, s->checkpoint.size());
        return false;
    }
    if (!llama_memory_seq_rm(llama_get_memory(s->ctx_tgt), k_seq, s->n_past, -1)) {
        shim_set_error("the target context could not remove positions from %d on", s->n_past);
        return false;
    }
    trim_lag(s, s->n_past + n_keep);
    if (s->ctx_mtp != nullptr && !llama_memory_seq_rm(llama_get_memory(s->ctx_mtp), k_seq, s->n_past + n_keep, -1)) {
        shim_set_error("the MTP context could not remove positions from %d on", s->n_past + n_keep);
        return false;
    }

    const auto start = clock_type::now();
    llama_batch_ext_clear(s->batch_tgt);
    for (int32_t i = 0; i < n_keep; i++) {
        if (!batch_add(s->batch_tgt, tokens[i], s->n_past + i, false, nullptr, 0)) {
            return false;
        }
    }
    const bool ok = decode_target(s, n_keep);
    s->stats.t_verify += seconds_since(start);
    return ok;
}

}  // namespace session_internal
