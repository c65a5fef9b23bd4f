// C++ entry to the shim's C declarations in ../decl/, plus helpers shared by
// the shim's own sources.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "llama.h"

extern "C" {
#include "80_shim.h"
#include "85_session.h"
#include "86_depth.h"
#include "95_grammar.h"
#include "96_sampler_ext.h"

// Defined by the cffi module (decl/90_callbacks.h).
void llamamtp_py_log(int32_t level, const char * text);
// Defined by the cffi module (decl/97_sampler_callbacks.h).
int32_t llamamtp_py_sampler_apply(void * handle, llama_token_data_array * cur_p);
void llamamtp_py_sampler_accept(void * handle, llama_token token);
}

// Record an error message for llamamtp_last_error() on this thread (printf format).
void shim_set_error(const char * format, ...) __attribute__((format(printf, 1, 2)));

// Return the index of the first largest of n logits (n >= 1), as
// std::max_element finds it, but about 6 times faster on a 248K vocabulary.
llama_token shim_argmax(const float * logits, int32_t n);

// Sample output row idx of ctx's last pass with smpl and accept the token.
// Returns 0, -1 when ctx has no logits for idx, -2 when nothing was selected.
int32_t shim_sample(struct llama_sampler * smpl, struct llama_context * ctx, int32_t idx, llama_token * out);
