// Samplers of the shim: a slot that forwards to a replaceable chain, and a
// sampler that runs Python logits processors (see decl/96_sampler_ext.h).

#include "shim.h"

// Set by a Python sampler whose callback raised, read and cleared by the slot
// around it. Sampling runs on the thread that called the session.
static thread_local bool py_sampler_failed = false;

struct slot_context {
    llama_sampler * chain = nullptr;
};

static const char * slot_name(const llama_sampler * /*smpl*/) {
    return "llamamtp-slot";
}

static void slot_accept(llama_sampler * smpl, llama_token token) {
    auto * ctx = static_cast<slot_context *>(smpl->ctx);
    if (ctx->chain != nullptr) {
        llama_sampler_accept(ctx->chain, token);
    }
}

static void slot_apply(llama_sampler * smpl, llama_token_data_array * cur_p) {
    auto * ctx = static_cast<slot_context *>(smpl->ctx);
    if (ctx->chain == nullptr) {
        cur_p->selected = -1;
        return;
    }
    py_sampler_failed = false;
    llama_sampler_apply(ctx->chain, cur_p);
    if (py_sampler_failed) {
        py_sampler_failed = false;
        cur_p->selected = -1;
    }
}

static void slot_reset(llama_sampler * smpl) {
    auto * ctx = static_cast<slot_context *>(smpl->ctx);
    if (ctx->chain != nullptr) {
        llama_sampler_reset(ctx->chain);
    }
}

static void slot_free(llama_sampler * smpl) {
    delete static_cast<slot_context *>(smpl->ctx);
}

static llama_sampler_i make_slot_iface() {
    llama_sampler_i iface{};
    iface.name = slot_name;
    iface.accept = slot_accept;
    iface.apply = slot_apply;
    iface.reset = slot_reset;
    iface.free = slot_free;
    return iface;
}

static llama_sampler_i slot_iface = make_slot_iface();

extern "C" struct llama_sampler * llamamtp_sampler_slot_init(void) {
    return llama_sampler_init(&slot_iface, new slot_context{});
}

extern "C" void llamamtp_sampler_slot_set(struct llama_sampler * slot, struct llama_sampler * chain) {
    static_cast<slot_context *>(slot->ctx)->chain = chain;
}

static const char * py_name(const llama_sampler * /*smpl*/) {
    return "llamamtp-python";
}

static void py_accept(llama_sampler * smpl, llama_token token) {
    llamamtp_py_sampler_accept(smpl->ctx, token);
}

static void py_apply(llama_sampler * smpl, llama_token_data_array * cur_p) {
    if (llamamtp_py_sampler_apply(smpl->ctx, cur_p) != 0) {
        py_sampler_failed = true;
    }
}

static llama_sampler_i make_py_iface() {
    llama_sampler_i iface{};
    iface.name = py_name;
    iface.accept = py_accept;
    iface.apply = py_apply;
    // ctx is a cffi handle owned by Python, so there is nothing to free.
    return iface;
}

static llama_sampler_i py_iface = make_py_iface();

extern "C" struct llama_sampler * llamamtp_sampler_py_init(void * handle) {
    return llama_sampler_init(&py_iface, handle);
}
