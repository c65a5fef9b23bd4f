/*
 * The native MTP session (llamamtp/native/session.cpp): one sequence decoded
 * on a target context, optionally drafted by an MTP context on the same model.
 * Valid C, read by cffi and by the C++ sources (see 80_shim.h).
 *
 * Every call that can fail returns a negative LLAMAMTP_ERR_* code and leaves
 * a message for llamamtp_last_error(); the session stays usable after
 * LLAMAMTP_ERR_INVALID and LLAMAMTP_ERR_CONTEXT_FULL. After
 * LLAMAMTP_ERR_DECODE or LLAMAMTP_ERR_ROLLBACK its memory no longer matches
 * the tokens it reports; call llamamtp_session_reset before reuse.
 */

enum llamamtp_status {
    LLAMAMTP_OK = 0,
    LLAMAMTP_ERR_INVALID = -1,      /* bad argument: token id, length, state */
    LLAMAMTP_ERR_CONTEXT_FULL = -2, /* no room left in n_ctx */
    LLAMAMTP_ERR_DECODE = -3,       /* llama_process failed on a context */
    LLAMAMTP_ERR_SAMPLE = -4,       /* the sampler chain selected no token */
    LLAMAMTP_ERR_ROLLBACK = -5      /* memory could not drop positions, or copy its recurrent state */
};

/* n_draft value for llamamtp_session_step: let the session pick the depth. */
enum llamamtp_draft_mode {
    LLAMAMTP_DRAFT_AUTO = -1,
    LLAMAMTP_MAX_DEPTH = 16
};

struct llamamtp_session;

/* Counters since creation or the last llamamtp_session_reset_stats. Times in seconds. */
struct llamamtp_stats {
    int64_t n_prefill;     /* prompt tokens decoded by prefill */
    int64_t n_steps;       /* verify passes of the target (each yields at least one token) */
    int64_t n_generated;   /* tokens returned by verify/step */
    int64_t n_drafted;     /* draft tokens proposed by the MTP head */
    int64_t n_accepted;    /* draft tokens the target accepted */
    double t_prefill;      /* target passes over prompts, MTP catch-up included */
    double t_draft;        /* MTP passes that produce draft tokens */
    double t_verify;       /* target passes over [last, draft...] */
    double t_catchup;      /* MTP passes that mirror a verify batch */
    double t_sample;       /* sampling and acceptance on the target's logits */
};

/*
 * Create a session. ctx_tgt is the target context; ctx_mtp an MTP context
 * created with ctx_other = ctx_tgt, or NULL for plain decoding. smpl is the
 * sampler chain applied to every verified position. None of them is owned:
 * they must outlive the session. n_draft_max caps the draft length (0 with
 * ctx_mtp == NULL); on hybrid or recurrent models ctx_tgt needs
 * n_rs_seq >= n_draft_max so rejected drafts can be rolled back.
 * Returns NULL on invalid arguments (see llamamtp_last_error).
 */
struct llamamtp_session * llamamtp_session_init(struct llama_context * ctx_tgt, struct llama_context * ctx_mtp, struct llama_sampler * smpl, int32_t n_draft_max);
void llamamtp_session_free(struct llamamtp_session * session);

/* Forget every token: clears both contexts' memory; the statistics stay. */
void llamamtp_session_reset(struct llamamtp_session * session);
void llamamtp_session_reset_stats(struct llamamtp_session * session);

/*
 * Append tokens to the sequence. All but the last are decoded by the target
 * (and mirrored into the MTP context) in chunks of n_batch; the last is kept
 * as the pending token that the next step decodes. Returns LLAMAMTP_OK or an
 * error code; nothing is decoded when the tokens are invalid or do not fit.
 */
int32_t llamamtp_session_prefill(struct llamamtp_session * session, const llama_token * tokens, int32_t n_tokens);

/*
 * Draft up to n_draft tokens after the pending token with the MTP head
 * (greedy on its logits) into out. Returns the number drafted (0 when no
 * room is left) or an error code. The MTP context's memory is restored.
 */
int32_t llamamtp_session_draft(struct llamamtp_session * session, int32_t n_draft, llama_token * out);

/*
 * Run the target on [pending, draft...], sample each position with the
 * sampler chain and accept while the sample equals the draft. Writes the
 * accepted draft tokens plus the target's next token to out (n_draft + 1
 * entries must fit) and returns their count, or an error code. Stops after
 * an end-of-generation token. Positions past the accepted ones are removed
 * from both contexts.
 */
int32_t llamamtp_session_verify(struct llamamtp_session * session, const llama_token * draft, int32_t n_draft, llama_token * out);

/*
 * Draft + verify in one call: at most n_draft draft tokens, and at most
 * n_max_tokens tokens returned (n_max_tokens >= 1). out must hold
 * n_max_tokens entries. Returns the count or an error code.
 *
 * n_draft = LLAMAMTP_DRAFT_AUTO lets the session pick the depth, 0 included,
 * that maximizes expected tokens per second from its own timings and
 * acceptance counts (at most n_draft_max). While it picks 0 the MTP context
 * stays idle and catches up in one batch when drafting resumes; every so
 * often a depth-1 probe checks whether drafting pays again.
 */
int32_t llamamtp_session_step(struct llamamtp_session * session, int32_t n_draft, int32_t n_max_tokens, llama_token * out);

/* Tokens in the target's memory (the pending token excluded). */
int32_t llamamtp_session_n_past(const struct llamamtp_session * session);
/* The pending token, or -1 before the first prefill. */
llama_token llamamtp_session_pending(const struct llamamtp_session * session);
void llamamtp_session_get_stats(const struct llamamtp_session * session, struct llamamtp_stats * out);

/* Every token of the sequence (prompt and generated, the pending one included). */
int32_t llamamtp_session_n_tokens(const struct llamamtp_session * session);
/* Copy up to capacity of them into out; returns the number copied. */
int32_t llamamtp_session_tokens(const struct llamamtp_session * session, llama_token * out, int32_t capacity);

/*
 * Keep the first n_keep tokens and forget the rest, so a new prompt that
 * shares them needs only its new tokens prefilled. The token at n_keep - 1
 * becomes pending again. Returns LLAMAMTP_ERR_ROLLBACK (state unchanged) when
 * the memory cannot drop those positions: recurrent layers keep only the last
 * n_rs_seq states. Load a prompt checkpoint, or reset and prefill from
 * scratch then. Prompt checkpoints past the new n_past are dropped.
 */
int32_t llamamtp_session_rewind(struct llamamtp_session * session, int32_t n_keep);

/*
 * Prompt checkpoints, for models with recurrent layers (Qwen3.5's Gated
 * DeltaNet), whose memory cannot drop more than a few positions. Each
 * contains the target's recurrent state after the first n_past tokens and the
 * MTP context's input state, so that a later prompt sharing those tokens
 * resumes there. A checkpoint is dropped when positions below its n_past leave the
 * memory (rewind, reset, restore, loading an earlier checkpoint).
 *
 * llamamtp_session_save_checkpoint saves one at the current n_past, replacing
 * one at the same n_past, after dropping the oldest until fewer than n_max
 * remain. Returns LLAMAMTP_OK, LLAMAMTP_ERR_INVALID (n_max < 1, nothing
 * decoded yet, or a model without recurrent layers, whose memory can drop any
 * positions) or LLAMAMTP_ERR_ROLLBACK (the state could not be copied).
 */
int32_t llamamtp_session_save_checkpoint(struct llamamtp_session * session, int32_t n_max);
/*
 * Write the n_past and size in bytes of up to capacity checkpoints, oldest
 * first, to n_past and sizes (either may be NULL). Returns how many there are.
 */
int32_t llamamtp_session_checkpoints(const struct llamamtp_session * session, int32_t * n_past, size_t * sizes, int32_t capacity);
/*
 * Go back to the checkpoint at n_past: both contexts drop positions >= n_past,
 * the recurrent and MTP input states are restored, and the sequence becomes
 * its first n_past tokens plus pending, the next token to decode. Returns
 * LLAMAMTP_OK, LLAMAMTP_ERR_INVALID (no checkpoint at n_past, or an invalid
 * token; nothing changed) or LLAMAMTP_ERR_ROLLBACK (the memory could not be
 * restored; reset the session).
 */
int32_t llamamtp_session_load_checkpoint(struct llamamtp_session * session, int32_t n_past, llama_token pending);

/*
 * With value true, verify/step keep a copy of the target's logits for each
 * token they return, readable with llamamtp_session_logits until the next call.
 */
void llamamtp_session_set_keep_logits(struct llamamtp_session * session, bool value);
/* Logits (n_vocab floats) behind returned token i of the last verify/step, or NULL. Owned by the session. */
const float * llamamtp_session_logits(const struct llamamtp_session * session, int32_t i);

/*
 * Saving and restoring a session together with both contexts' llama_state:
 * n_embd floats of MTP input state (0 without an MTP context) and the token
 * history. llamamtp_session_restore sets the history and that state without
 * decoding, and drops every prompt checkpoint; the caller restores the
 * contexts' memory itself.
 */
int32_t llamamtp_session_n_embd(const struct llamamtp_session * session);
void llamamtp_session_get_pending_h(const struct llamamtp_session * session, float * out);
int32_t llamamtp_session_restore(struct llamamtp_session * session, const llama_token * tokens, int32_t n_tokens, const float * pending_h);

/* The automatic depth controller's choices and estimates. Times in seconds. */
struct llamamtp_depth_stats {
    int32_t last_depth;                /* depth of the last automatic step */
    bool mtp_idle;                     /* true while the MTP context skips catch-up */
    int32_t n_lag;                     /* positions waiting to be mirrored into the MTP context */
    int64_t histogram[17];             /* automatic steps per depth 0..16 */
    double acceptance[16];             /* P(draft position j+1 accepted | earlier ones were) */
    double expected_rate[17];          /* estimated tokens per second per depth */
    double verify_seconds_1;           /* target pass over one token */
    double verify_seconds_per_token;   /* each extra token in a target pass */
    double draft_seconds_per_token;    /* one MTP draft pass */
    double catchup_seconds_per_token;  /* mirroring one token into the MTP context */
    double sample_seconds_per_token;   /* sampling one position */
};

/* Fill out; LLAMAMTP_ERR_INVALID for a session without an MTP context. */
int32_t llamamtp_session_get_depth_stats(const struct llamamtp_session * session, struct llamamtp_depth_stats * out);
