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
#include <cstring>
#include <vector>

#include "session.h"

using namespace session_internal;

namespace session_internal {

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

bool tokens_valid(const llamamtp_session * s, const llama_token * tokens, int32_t n_tokens) {
    for (int32_t i = 0; i < n_tokens; i++) {
        if (tokens[i] < 0 || tokens[i] >= s->n_vocab) {
            shim_set_error("token id %d at index %d is outside the vocabulary [0, %d)", tokens[i], i, s->n_vocab);
            return false;
        }
    }
    return true;
}

}  // namespace session_internal

namespace {

// Decode tokens on the target (no logits) and mirror them into the MTP context.
bool decode_chunk(llamamtp_session * s, const llama_token * tokens, int32_t n_tokens) {
    llama_batch_ext_clear(s->batch_tgt);
    for (int32_t i = 0; i < n_tokens; i++) {
        if (!batch_add(s->batch_tgt, tokens[i], s->n_past + i, false, nullptr, 0)) {
            return false;
        }
    }
    if (!decode_target(s, n_tokens)) {
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

// Largest draft that leaves room for the verify batch [pending, draft...] in n_ctx.
int32_t room_for_draft(const llamamtp_session * s) {
    return std::max(0, s->n_ctx - s->n_past - 1);
}

// Run two drafting passes on the empty MTP context and forget them. The
// first pass with outputs sets up buffers: on the tiny test model it took
// 7.5 ms against 2.5 ms for later ones, so without it the first draft of a
// generation pays that. The second pass gives the automatic depth a draft cost
// before its first probe.
bool warm_up_draft(llamamtp_session * s) {
    llama_memory_t memory = llama_get_memory(s->ctx_mtp);
    if (llama_memory_seq_pos_max(memory, k_seq) >= 0) {
        return true;  // a context already in use is left as it is
    }
    bool ok = true;
    double seconds = 0.0;
    for (int pass = 0; pass < 2 && ok; pass++) {
        llama_batch_ext_clear(s->batch_mtp);
        const auto start = clock_type::now();
        ok = batch_add(s->batch_mtp, 0, 0, true, s->pending_h.data(), s->n_embd) &&
             process(s->ctx_mtp, s->batch_mtp, "MTP") && llama_get_logits_ith(s->ctx_mtp, 0) != nullptr;
        seconds = seconds_since(start);
        llama_memory_clear(memory, true);
    }
    if (ok && s->controller != nullptr) {
        s->controller->observe_draft_pass(seconds);
    }
    return ok;
}

// Run one target pass as wide as the widest verify, with every row an output,
// on the empty target context and forget it, so that the first passes of a
// generation cost what later ones do. Without it, in a process that had run
// another session, the first 2-token verify of the 4B oracle (2 CPU threads)
// took 210-264 ms against 160-180 ms later. A first wider pass took up to 90
// ms more than the next one. The automatic depth judges drafting on such
// timings.
bool warm_up_verify(llamamtp_session * s) {
    llama_memory_t memory = llama_get_memory(s->ctx_tgt);
    if (s->n_draft_max == 0 || llama_memory_seq_pos_max(memory, k_seq) >= 0) {
        return true;  // nothing to verify, or a context already in use
    }
    llama_batch_ext_clear(s->batch_tgt);
    bool ok = true;
    for (int32_t i = 0; i <= s->n_draft_max && ok; i++) {
        ok = batch_add(s->batch_tgt, 0, i, true, nullptr, 0);
    }
    ok = ok && decode_target(s, s->n_draft_max + 1);
    llama_memory_clear(memory, true);
    return ok;
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
    // llama.cpp keeps the last n_rs_seq + 1 tokens of a batch in one ubatch, so a
    // verify pass of n_draft_max + 1 tokens needs one more position.
    if (has_recurrent && n_draft_max > 0 && n_draft_max + 2 > (int32_t) llama_n_ubatch(ctx_tgt)) {
        shim_set_error("n_draft_max=%d needs n_ubatch >= %d so a verify pass is one ubatch", n_draft_max, n_draft_max + 2);
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
    s->has_recurrent = has_recurrent;
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
        if (!warm_up_draft(s) || !warm_up_verify(s)) {
            llamamtp_session_free(s);
            return nullptr;
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
    s->prompt_checkpoints.clear();
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

    // On recurrent memory each pass is one ubatch, so ubatches start at multiples
    // of n_ubatch from the first prefilled position, however long the prompt.
    // Within a larger batch llama.cpp shortens a ubatch to keep the last
    // n_rs_seq + 1 tokens together, which moves the split with the batch length.
    const int32_t n_chunk_max = s->has_recurrent ? std::min(s->n_batch, s->n_ubatch) : s->n_batch;
    const auto start = clock_type::now();
    for (int32_t offset = 0; offset < n_decode; offset += n_chunk_max) {
        const int32_t n_chunk = std::min(n_chunk_max, n_decode - offset);
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
        token = shim_argmax(logits, s->n_vocab);
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
    const bool decoded = decode_target(s, n_tokens);
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
        s->controller->observe_lag_flush(t_lag);
        s->controller->observe_step(n_drafted, n_out - 1,
                                    s->stats.t_draft - before.t_draft,
                                    s->stats.t_verify - before.t_verify,
                                    s->stats.t_catchup - before.t_catchup - t_lag,
                                    s->stats.t_sample - before.t_sample);
    }
    return n_out;
}

