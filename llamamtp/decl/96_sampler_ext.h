/*
 * Samplers implemented by the shim (llamamtp/native/sampler_ext.cpp).
 * Valid C, read by cffi and by the C++ source.
 */

/*
 * A slot: a sampler that forwards apply/accept/reset to the chain set with
 * llamamtp_sampler_slot_set, so a session created once can sample each
 * request with new settings. The slot never owns that chain: keep it alive
 * while it is set. With no chain set, apply selects nothing. After a Python
 * sampler in the chain reported an error, apply sets cur_p->selected = -1,
 * which llamamtp_sample and the session report as "selected no token".
 */
struct llama_sampler * llamamtp_sampler_slot_init(void);
void llamamtp_sampler_slot_set(struct llama_sampler * slot, struct llama_sampler * chain);

/*
 * A sampler whose apply and accept call Python (llamamtp_py_sampler_apply,
 * llamamtp_py_sampler_accept in 97_sampler_callbacks.h) with handle, for
 * logits processors. Owned by the chain it is added to; handle is not owned.
 */
struct llama_sampler * llamamtp_sampler_py_init(void * handle);
