// The native MTP loop: prefill, draft, verify and step for one sequence.
//
// The target context outputs its NextN hidden state h for every token it
// decodes. The MTP context, a second context on the same model, mirrors every
// target batch: the token at position p is paired with the target's h at
// position p - 1. To draft, the MTP context takes the pending token with the
// h of the last decoded position, picks its top token, and chains on its own
// output h. Verification runs the target on [pending, draft...] and samples
// every position with the session's sampler chain, accepting while the sample
// equals the draft, so the output is what plain decoding would produce.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "depth.h"
#include "shim.h"
#include "llama-ext.h"

namespace {

constexpr llama_seq_id k_seq = 0;

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

}  // namespace

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

    std::vector<llama_token> history;  // every token of the sequence, pending included
    bool keep_logits = false;
    std::vector<float> logits;         // target logits of the last verify, one row per output token
    int32_t n_logits = 0;

    llamamtp_stats stats = {};
};

namespace {

bool tokens_valid(const llamamtp_session * s, const llama_token * tokens, int32_t n_tokens) {
    for (int32_t i = 0; i < n_tokens; i++) {
        if (tokens[i] < 0 || tokens[i] >= s->n_vocab) {
            shim_set_error("token id %d at index %d is outside the vocabulary [0, %d)", tokens[i], i, s->n_vocab);
            return false;
        }
    }
    return true;
}

// Add a token at pos to a batch, with an input h row for MTP batches.
bool batch_add(llama_batch_ext * batch, llama_token token, llama_pos pos, bool output, const float * h, int32_t n_embd) {
    const int32_t idx = llama_batch_ext_add_token(batch, k_seq, token);
    if (idx < 0) {
        shim_set_error("llama_batch_ext_add_token failed with %d for token %d", idx, token);
        return false;
    }
    llama_batch_ext_set_pos(batch, idx, &pos);
    llama_batch_ext_set_output_logits(batch, idx, output);
    if (h != nullptr && !llama_batch_ext_set_embd_token(batch, idx, llama_embd{h, 1, (size_t) n_embd})) {
        shim_set_error("llama_batch_ext_set_embd_token failed at batch index %d", idx);
        return false;
    }
    return true;
}

bool process(llama_context * ctx, llama_batch_ext * batch, const char * which) {
    const int32_t status = llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, batch);
    if (status != 0) {
        shim_set_error("llama_process on the %s context failed with status %d", which, status);
        return false;
    }
    return true;
}

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

// Trailing positions that can be removed after a target pass of n_tokens.
int32_t removable_after_pass(const llamamtp_session * s, int32_t n_tokens) {
    if (!s->has_snapshots) {
        return s->rollback_by_checkpoint ? 0 : s->n_ctx;
    }
    const int32_t last_ubatch = (n_tokens - 1) % s->n_ubatch + 1;
    return std::min(s->n_rs_seq, last_ubatch - 1);
}

// Decode tokens on the target (no logits) and mirror them into the MTP context.
bool decode_chunk(llamamtp_session * s, const llama_token * tokens, int32_t n_tokens) {
    llama_batch_ext_clear(s->batch_tgt);
    for (int32_t i = 0; i < n_tokens; i++) {
        if (!batch_add(s->batch_tgt, tokens[i], s->n_past + i, false, nullptr, 0)) {
            return false;
        }
    }
    if (!process(s->ctx_tgt, s->batch_tgt, "target")) {
        return false;
    }
    if (s->ctx_mtp != nullptr) {
        if (!catch_up(s, tokens, n_tokens, s->n_past)) {
            return false;
        }
        std::memcpy(s->pending_h.data(), s->batch_h.data() + (size_t) (n_tokens - 1) * s->n_embd,
                    sizeof(float) * s->n_embd);
    }
    s->n_past += n_tokens;
    s->n_removable = removable_after_pass(s, n_tokens);
    return true;
}

llama_token argmax(const float * logits, int32_t n) {
    return (llama_token) (std::max_element(logits, logits + n) - logits);
}

// Drop positions >= pos from both contexts. On hybrid models with n_rs_seq
// snapshots this also restores the recurrent state at pos - 1.
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
    const bool ok = process(s->ctx_tgt, s->batch_tgt, "target");
    s->stats.t_verify += seconds_since(start);
    return ok;
}

// Largest draft that leaves room for the verify batch [pending, draft...] in n_ctx.
int32_t room_for_draft(const llamamtp_session * s) {
    return std::max(0, s->n_ctx - s->n_past - 1);
}

}  // namespace

extern "C" struct llamamtp_session * llamamtp_session_init(
        struct llama_context * ctx_tgt, struct llama_context * ctx_mtp, struct llama_sampler * smpl, int32_t n_draft_max) {
    if (ctx_tgt == nullptr || smpl == nullptr) {
        shim_set_error("llamamtp_session_init needs a target context and a sampler chain");
        return nullptr;
    }
    if (n_draft_max < 0 || (ctx_mtp == nullptr && n_draft_max != 0)) {
        shim_set_error("n_draft_max must be 0 without an MTP context and >= 0 with one, got %d", n_draft_max);
        return nullptr;
    }
    const llama_model * model = llama_get_model(ctx_tgt);
    if (ctx_mtp != nullptr && llama_get_model(ctx_mtp) != model) {
        shim_set_error("the MTP context must be created on the target context's model");
        return nullptr;
    }
    // llama.cpp keeps ctx_other only for drafters that share the target's memory
    // (Gemma 4 assistants); this loop keeps a separate MTP memory.
    if (ctx_mtp != nullptr && llamamtp_get_ctx_other(ctx_mtp) == ctx_tgt) {
        shim_set_error("MTP heads that share the target's memory are not supported");
        return nullptr;
    }
    if (n_draft_max >= (int32_t) llama_n_batch(ctx_tgt)) {
        shim_set_error("n_draft_max=%d does not fit the target's n_batch=%u", n_draft_max, llama_n_batch(ctx_tgt));
        return nullptr;
    }
    const bool has_recurrent = llama_model_is_recurrent(model) || llama_model_is_hybrid(model);
    if (has_recurrent && n_draft_max >= (int32_t) llama_n_ubatch(ctx_tgt)) {
        shim_set_error("n_draft_max=%d needs n_ubatch > %d so a verify pass is one ubatch", n_draft_max, n_draft_max);
        return nullptr;
    }

    auto * s = new llamamtp_session();
    s->ctx_tgt = ctx_tgt;
    s->ctx_mtp = ctx_mtp;
    s->smpl = smpl;
    s->vocab = llama_model_get_vocab(model);
    s->n_vocab = llama_vocab_n_tokens(s->vocab);
    s->n_embd = llama_model_n_embd(model);
    s->n_ctx = (int32_t) llama_n_ctx(ctx_tgt);
    s->n_batch = (int32_t) llama_n_batch(ctx_tgt);
    s->n_draft_max = n_draft_max;
    // llama.cpp clamps n_rs_seq to 0 for architectures without snapshot support (qwen3next).
    s->rollback_by_checkpoint = has_recurrent && n_draft_max > (int32_t) llama_n_rs_seq(ctx_tgt);
    s->has_snapshots = has_recurrent && !s->rollback_by_checkpoint;
    s->n_rs_seq = (int32_t) llama_n_rs_seq(ctx_tgt);
    s->n_ubatch = (int32_t) llama_n_ubatch(ctx_tgt);
    s->batch_tgt = llama_batch_ext_init(ctx_tgt);

    if (ctx_mtp != nullptr) {
        s->batch_mtp = llama_batch_ext_init(ctx_mtp);
        s->pending_h.assign(s->n_embd, 0.0f);
        s->draft_h.assign(s->n_embd, 0.0f);
        // Target: h for every token of a pass. MTP: only for rows marked as output.
        llamamtp_set_embeddings_nextn(ctx_tgt, true, false);
        llamamtp_set_embeddings_nextn(ctx_mtp, true, true);
        if (n_draft_max > 0) {
            s->controller = std::make_unique<depth_controller>(n_draft_max);
        }
    }
    return s;
}

extern "C" void llamamtp_session_free(struct llamamtp_session * s) {
    if (s == nullptr) {
        return;
    }
    llama_batch_ext_free(s->batch_tgt);
    if (s->batch_mtp != nullptr) {
        llama_batch_ext_free(s->batch_mtp);
    }
    delete s;
}

extern "C" void llamamtp_session_reset(struct llamamtp_session * s) {
    llama_memory_clear(llama_get_memory(s->ctx_tgt), true);
    if (s->ctx_mtp != nullptr) {
        llama_memory_clear(llama_get_memory(s->ctx_mtp), true);
        std::fill(s->pending_h.begin(), s->pending_h.end(), 0.0f);
    }
    s->n_past = 0;
    s->pending = -1;
    s->history.clear();
    s->n_logits = 0;
    s->n_removable = 0;
    s->lag_tokens.clear();
    s->lag_pos.clear();
    s->lag_h.clear();
}

extern "C" void llamamtp_session_reset_stats(struct llamamtp_session * s) {
    s->stats = llamamtp_stats{};
}

extern "C" int32_t llamamtp_session_prefill(struct llamamtp_session * s, const llama_token * tokens, int32_t n_tokens) {
    if (n_tokens <= 0) {
        shim_set_error("prefill needs at least one token, got %d", n_tokens);
        return LLAMAMTP_ERR_INVALID;
    }
    if (!tokens_valid(s, tokens, n_tokens)) {
        return LLAMAMTP_ERR_INVALID;
    }
    // The sequence grows by the previous pending token (if any) plus all but the last new token.
    const int32_t n_decode = n_tokens - 1 + (s->pending >= 0 ? 1 : 0);
    if (s->n_past + n_decode + 1 > s->n_ctx) {
        shim_set_error("%d tokens do not fit: %d of n_ctx=%d are used", n_tokens, s->n_past + (s->pending >= 0), s->n_ctx);
        return LLAMAMTP_ERR_CONTEXT_FULL;
    }

    std::vector<llama_token> sequence;
    sequence.reserve(n_decode);
    if (s->pending >= 0) {
        sequence.push_back(s->pending);
    }
    sequence.insert(sequence.end(), tokens, tokens + n_tokens - 1);

    const auto start = clock_type::now();
    for (int32_t offset = 0; offset < n_decode; offset += s->n_batch) {
        const int32_t n_chunk = std::min(s->n_batch, n_decode - offset);
        if (!decode_chunk(s, sequence.data() + offset, n_chunk)) {
            s->stats.t_prefill += seconds_since(start);
            return LLAMAMTP_ERR_DECODE;
        }
    }
    s->stats.t_prefill += seconds_since(start);
    s->stats.n_prefill += n_decode;
    s->pending = tokens[n_tokens - 1];
    s->history.insert(s->history.end(), tokens, tokens + n_tokens);
    return LLAMAMTP_OK;
}

extern "C" int32_t llamamtp_session_draft(struct llamamtp_session * s, int32_t n_draft, llama_token * out) {
    if (s->ctx_mtp == nullptr) {
        shim_set_error("this session has no MTP context, so it cannot draft");
        return LLAMAMTP_ERR_INVALID;
    }
    if (s->pending < 0) {
        shim_set_error("nothing to draft from: prefill the session first");
        return LLAMAMTP_ERR_INVALID;
    }
    if (n_draft < 0 || n_draft > s->n_draft_max) {
        shim_set_error("n_draft must be in [0, %d], got %d", s->n_draft_max, n_draft);
        return LLAMAMTP_ERR_INVALID;
    }
    n_draft = std::min(n_draft, room_for_draft(s));
    if (n_draft == 0) {
        return 0;
    }

    if (!flush_lag(s)) {
        return LLAMAMTP_ERR_DECODE;
    }
    const auto start = clock_type::now();
    llama_token token = s->pending;
    const float * h = s->pending_h.data();
    int32_t n_drafted = 0;
    int32_t status = 0;
    for (; n_drafted < n_draft; n_drafted++) {
        llama_batch_ext_clear(s->batch_mtp);
        if (!batch_add(s->batch_mtp, token, s->n_past + n_drafted, true, h, s->n_embd) ||
            !process(s->ctx_mtp, s->batch_mtp, "MTP")) {
            status = LLAMAMTP_ERR_DECODE;
            break;
        }
        const float * logits = llama_get_logits_ith(s->ctx_mtp, 0);
        const float * h_out = llamamtp_get_embeddings_nextn_ith(s->ctx_mtp, 0);
        if (logits == nullptr || h_out == nullptr) {
            shim_set_error("the MTP context produced no logits or hidden state");
            status = LLAMAMTP_ERR_DECODE;
            break;
        }
        token = argmax(logits, s->n_vocab);
        out[n_drafted] = token;
        // Copied: the context's output buffer is rewritten by the next pass.
        std::memcpy(s->draft_h.data(), h_out, sizeof(float) * s->n_embd);
        h = s->draft_h.data();
    }

    // The draft positions are rebuilt by the catch-up after verification.
    if (!llama_memory_seq_rm(llama_get_memory(s->ctx_mtp), k_seq, s->n_past, -1)) {
        shim_set_error("the MTP context could not remove its draft positions from %d on", s->n_past);
        status = LLAMAMTP_ERR_ROLLBACK;
    }
    s->stats.t_draft += seconds_since(start);
    if (status != 0) {
        return status;
    }
    s->stats.n_drafted += n_drafted;
    return n_drafted;
}

extern "C" int32_t llamamtp_session_verify(struct llamamtp_session * s, const llama_token * draft, int32_t n_draft, llama_token * out) {
    if (s->pending < 0) {
        shim_set_error("nothing to verify: prefill the session first");
        return LLAMAMTP_ERR_INVALID;
    }
    if (n_draft < 0 || n_draft > s->n_draft_max) {
        shim_set_error("n_draft must be in [0, %d], got %d", s->n_draft_max, n_draft);
        return LLAMAMTP_ERR_INVALID;
    }
    if (!tokens_valid(s, draft, n_draft)) {
        return LLAMAMTP_ERR_INVALID;
    }
    if (s->n_past + 1 + n_draft > s->n_ctx) {
        if (s->n_past + 1 > s->n_ctx) {
            shim_set_error("the context is full (n_ctx=%d)", s->n_ctx);
            return LLAMAMTP_ERR_CONTEXT_FULL;
        }
        n_draft = s->n_ctx - s->n_past - 1;
    }

    const int32_t n_tokens = n_draft + 1;
    std::vector<llama_token> & batch_tokens = s->verify_tokens;
    batch_tokens.resize(n_tokens);
    batch_tokens[0] = s->pending;
    std::copy(draft, draft + n_draft, batch_tokens.begin() + 1);

    auto start = clock_type::now();
    if (s->rollback_by_checkpoint && n_draft > 0 && !save_checkpoint(s)) {
        return LLAMAMTP_ERR_ROLLBACK;
    }
    llama_batch_ext_clear(s->batch_tgt);
    for (int32_t i = 0; i < n_tokens; i++) {
        if (!batch_add(s->batch_tgt, batch_tokens[i], s->n_past + i, true, nullptr, 0)) {
            return LLAMAMTP_ERR_DECODE;
        }
    }
    const bool decoded = process(s->ctx_tgt, s->batch_tgt, "target");
    s->stats.t_verify += seconds_since(start);
    if (!decoded) {
        return LLAMAMTP_ERR_DECODE;
    }
    if (s->ctx_mtp != nullptr && !catch_up(s, batch_tokens.data(), n_tokens, s->n_past)) {
        return LLAMAMTP_ERR_DECODE;
    }

    // Sample every position the same way plain decoding would, stopping at the
    // first disagreement with the draft or at an end-of-generation token.
    start = clock_type::now();
    int32_t n_out = 0;
    for (int32_t i = 0; i < n_tokens; i++) {
        llama_token token;
        if (shim_sample(s->smpl, s->ctx_tgt, i, &token) != 0) {
            shim_set_error("the sampler chain selected no token at draft position %d", i);
            s->stats.t_sample += seconds_since(start);
            return LLAMAMTP_ERR_SAMPLE;
        }
        out[n_out++] = token;
        if (i == n_draft || token != draft[i] || llama_vocab_is_eog(s->vocab, token)) {
            break;
        }
    }
    s->stats.t_sample += seconds_since(start);

    s->n_logits = 0;
    if (s->keep_logits) {
        s->logits.resize((size_t) n_out * s->n_vocab);
        for (int32_t i = 0; i < n_out; i++) {
            std::memcpy(s->logits.data() + (size_t) i * s->n_vocab, llama_get_logits_ith(s->ctx_tgt, i),
                        sizeof(float) * s->n_vocab);
        }
        s->n_logits = n_out;
    }

    const int32_t n_accepted = n_out - 1;
    if (s->ctx_mtp != nullptr) {
        std::memcpy(s->pending_h.data(), s->batch_h.data() + (size_t) n_accepted * s->n_embd, sizeof(float) * s->n_embd);
    }
    s->stats.n_steps += 1;
    s->stats.n_generated += n_out;
    s->stats.n_accepted += n_accepted;

    s->n_removable = removable_after_pass(s, n_tokens);
    if (n_accepted < n_draft) {
        s->n_removable = s->has_snapshots ? 0 : s->n_removable;
        const bool rolled_back = s->rollback_by_checkpoint
            ? roll_back_to_checkpoint(s, batch_tokens.data(), n_accepted + 1)
            : remove_after(s, s->n_past + n_accepted + 1);
        if (!rolled_back) {
            return LLAMAMTP_ERR_ROLLBACK;
        }
    }
    s->n_past += n_accepted + 1;
    s->pending = out[n_out - 1];
    s->history.insert(s->history.end(), out, out + n_out);
    return n_out;
}

extern "C" int32_t llamamtp_session_step(struct llamamtp_session * s, int32_t n_draft, int32_t n_max_tokens, llama_token * out) {
    if (n_max_tokens < 1) {
        shim_set_error("n_max_tokens must be at least 1, got %d", n_max_tokens);
        return LLAMAMTP_ERR_INVALID;
    }
    const bool automatic = n_draft == LLAMAMTP_DRAFT_AUTO;
    if (automatic && s->controller == nullptr) {
        shim_set_error("automatic draft depth needs a session with an MTP context and n_draft_max >= 1");
        return LLAMAMTP_ERR_INVALID;
    }
    if (!automatic && (n_draft < 0 || n_draft > s->n_draft_max)) {
        shim_set_error("n_draft must be in [0, %d], got %d", s->n_draft_max, n_draft);
        return LLAMAMTP_ERR_INVALID;
    }
    const int32_t limit = std::min(n_max_tokens - 1, room_for_draft(s));
    if (automatic) {
        n_draft = s->controller->choose(limit);
        // A probe or a drafting step needs the MTP context; plain steps leave it idle.
        s->mtp_idle = n_draft == 0;
    } else {
        n_draft = std::min(n_draft, limit);
        s->mtp_idle = false;
    }

    const llamamtp_stats before = s->stats;
    s->t_lag_flush = 0.0;
    std::vector<llama_token> & draft = s->step_draft;
    draft.resize(n_draft);
    int32_t n_drafted = 0;
    if (n_draft > 0) {
        n_drafted = llamamtp_session_draft(s, n_draft, draft.data());
        if (n_drafted < 0) {
            return n_drafted;
        }
    }
    const int32_t n_out = llamamtp_session_verify(s, draft.data(), n_drafted, out);

    if (automatic && n_out > 0) {
        const double t_lag = s->t_lag_flush;
        s->controller->observe_step(n_drafted, n_out - 1,
                                    s->stats.t_draft - before.t_draft - (n_drafted > 0 ? t_lag : 0.0),
                                    s->stats.t_verify - before.t_verify,
                                    s->stats.t_catchup - before.t_catchup - t_lag,
                                    s->stats.t_sample - before.t_sample);
    }
    return n_out;
}

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
