// The session's state and the helpers its sources share (session.cpp: the
// loop; session_mirror.cpp: the MTP context's copy of the sequence;
// session_rollback.cpp: undoing rejected drafts; session_checkpoint.cpp:
// resuming a later prompt from a saved recurrent state; session_state.cpp:
// history, logits and statistics).
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "depth.h"
#include "shim.h"
#include "llama-ext.h"

// The state after the first n_past tokens of a prompt, on a model with
// recurrent layers. Attention memory keeps positions < n_past itself, so only
// what it cannot rebuild is stored.
struct prompt_checkpoint {
    int32_t n_past = 0;
    std::vector<uint8_t> recurrent;  // llama_state_seq_get_data_ext(..., LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY)
    std::vector<float> pending_h;    // target h at position n_past - 1; empty without an MTP context
};

struct llamamtp_session {
    llama_context * ctx_tgt = nullptr;
    llama_context * ctx_mtp = nullptr;  // null for plain decoding
    llama_sampler * smpl = nullptr;
    const llama_vocab * vocab = nullptr;

    int32_t n_vocab = 0;
    int32_t n_embd = 0;
    int32_t n_ctx = 0;
    int32_t n_batch = 0;
    int32_t n_draft_max = 0;
    // Recurrent or hybrid memory: prefill passes hold at most one ubatch, and
    // prompt checkpoints are available.
    bool has_recurrent = false;
    // Recurrent state without llama.cpp's rollback snapshots (n_rs_seq): save it
    // before each verify pass, restore it after a rejection and decode the
    // accepted tokens again.
    bool rollback_by_checkpoint = false;
    std::vector<uint8_t> checkpoint;
    // Recurrent snapshots cover only the positions of the last target ubatch,
    // and one rollback uses them up: how many trailing positions can still be removed.
    bool has_snapshots = false;
    int32_t n_rs_seq = 0;
    int32_t n_ubatch = 0;
    int32_t n_removable = 0;

    llama_batch_ext * batch_tgt = nullptr;
    llama_batch_ext * batch_mtp = nullptr;

    int32_t n_past = 0;            // tokens in the target's memory
    llama_token pending = -1;      // known, not yet decoded by the target
    std::vector<float> pending_h;  // target h at position n_past - 1
    std::vector<float> batch_h;    // target h rows of the last target pass
    std::vector<float> draft_h;    // MTP h of the last draft step
    // Reused per step, so the hot path allocates nothing.
    std::vector<llama_token> verify_tokens;
    std::vector<llama_token> step_draft;

    // Automatic depth (LLAMAMTP_DRAFT_AUTO). While it picks depth 0 the MTP
    // context sits idle: the positions it has not mirrored wait in the lag
    // (token, position, target h of the position before) and are caught up in
    // one batch when drafting resumes.
    std::unique_ptr<depth_controller> controller;
    bool mtp_idle = false;
    std::vector<llama_token> lag_tokens;
    std::vector<llama_pos> lag_pos;
    std::vector<float> lag_h;
    double t_lag_flush = 0.0;  // seconds of the last lag flush, kept out of the controller's timings

    // Oldest first. Each is valid while the memory contains the tokens before
    // its n_past, so removing positions below n_past drops it.
    std::vector<prompt_checkpoint> prompt_checkpoints;

    std::vector<llama_token> history;  // every token of the sequence, pending included
    bool keep_logits = false;
    std::vector<float> logits;         // target logits of the last verify, one row per output token
    int32_t n_logits = 0;

    llamamtp_stats stats = {};
};

namespace session_internal {

constexpr llama_seq_id k_seq = 0;

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// Check that every token id is in the vocabulary; set the error message if not.
bool tokens_valid(const llamamtp_session * s, const llama_token * tokens, int32_t n_tokens);
// Add a token at pos to a batch, with an input h row for MTP batches.
bool batch_add(llama_batch_ext * batch, llama_token token, llama_pos pos, bool output, const float * h, int32_t n_embd);
bool process(llama_context * ctx, llama_batch_ext * batch, const char * which);

// session_mirror.cpp
bool flush_lag(llamamtp_session * s);
bool catch_up(llamamtp_session * s, const llama_token * tokens, int32_t n_tokens, llama_pos pos0);
void trim_lag(llamamtp_session * s, llama_pos pos);

// session_rollback.cpp
int32_t removable_after_pass(const llamamtp_session * s, int32_t n_tokens);
// Decode batch_tgt (n_tokens) on the target context; see session_rollback.cpp.
bool decode_target(llamamtp_session * s, int32_t n_tokens);
bool remove_after(llamamtp_session * s, llama_pos pos);
bool save_checkpoint(llamamtp_session * s);
bool roll_back_to_checkpoint(llamamtp_session * s, const llama_token * tokens, int32_t n_keep);

// session_checkpoint.cpp
void drop_prompt_checkpoints_after(llamamtp_session * s, llama_pos pos);

}  // namespace session_internal
