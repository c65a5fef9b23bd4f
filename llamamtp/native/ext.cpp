// extern "C" wrappers for llama.cpp's C++-linkage staging API (src/llama-ext.h)
// and the build facts the Python side reports.

#include "shim.h"

#include "llama-ext.h"

#ifndef LLAMAMTP_LLAMA_CPP_COMMIT
#define LLAMAMTP_LLAMA_CPP_COMMIT "unknown"
#endif

extern "C" const char * llamamtp_llama_cpp_commit(void) {
    return LLAMAMTP_LLAMA_CPP_COMMIT;
}

extern "C" void llamamtp_set_embeddings_nextn(struct llama_context * ctx, bool value, bool masked) {
    llama_set_embeddings_nextn(ctx, value, masked);
}

extern "C" float * llamamtp_get_embeddings_nextn_ith(struct llama_context * ctx, int32_t i) {
    return llama_get_embeddings_nextn_ith(ctx, i);
}

extern "C" void llamamtp_set_nextn_layer_offset(struct llama_context * ctx, int32_t offset) {
    llama_set_nextn_layer_offset(ctx, offset);
}

extern "C" struct llama_context * llamamtp_get_ctx_other(struct llama_context * ctx) {
    return llama_get_ctx_other(ctx);
}
