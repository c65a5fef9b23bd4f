/*
 * llamamtp's own native shim (llamamtp/native/). This file is valid C and is
 * read twice: by cffi as part of the cdef, and by the shim's C++ sources,
 * which include it inside extern "C" after <stdint.h>, <stdbool.h> and llama.h.
 * No preprocessor lines may appear here.
 */

/*
 * Logging. The shim owns llama.cpp's log callback: it remembers the last
 * error-level message of the calling thread and forwards messages at or above
 * min_level to Python. min_level is a ggml_log_level; GGML_LOG_LEVEL_NONE
 * (0) forwards everything, a value above GGML_LOG_LEVEL_ERROR forwards nothing.
 */
void llamamtp_log_install(int32_t min_level);

/* The error-level log text of this thread since the last llamamtp_clear_error(), "" when none. Owned by the shim; valid until the next log call on this thread. */
const char * llamamtp_last_error(void);
void llamamtp_clear_error(void);

/* Build facts, as static strings owned by the shim. */
const char * llamamtp_llama_cpp_commit(void);

/*
 * C wrappers for the C++-linkage staging API in llama.cpp's src/llama-ext.h.
 * Same contracts as the wrapped functions.
 */

/* Make ctx output the NextN (MTP) hidden state; masked = only rows whose output flag is set. */
void llamamtp_set_embeddings_nextn(struct llama_context * ctx, bool value, bool masked);
/* Row i of the last NextN output (negative i counts from the end); NULL when not available. Owned by ctx; valid until the next decode. */
float * llamamtp_get_embeddings_nextn_ith(struct llama_context * ctx, int32_t i);
/* Which appended NextN block an MTP context runs (0 = the first). */
void llamamtp_set_nextn_layer_offset(struct llama_context * ctx, int32_t offset);
/* The context given as ctx_other when ctx was created, or NULL. Not owned by the caller. */
struct llama_context * llamamtp_get_ctx_other(struct llama_context * ctx);

/*
 * Sampling without llama_sampler_sample's aborts: sample the output row idx of
 * ctx's last decode with smpl, accept the token into smpl and store it in *out.
 * Returns 0 on success, -1 when ctx has no logits for idx, -2 when the chain
 * selected no token (a chain without a final greedy/dist/mirostat sampler, or a
 * grammar that allows nothing). Nothing is accepted on failure.
 */
int32_t llamamtp_sample(struct llama_sampler * smpl, struct llama_context * ctx, int32_t idx, llama_token * out);
