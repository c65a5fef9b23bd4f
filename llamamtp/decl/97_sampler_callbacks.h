/*
 * Python functions the sampler shim calls (cdef only). apply returns 0, or -1
 * after the Python code raised; the shim then selects no token.
 */

extern "Python+C" int32_t llamamtp_py_sampler_apply(void * handle, llama_token_data_array * cur_p);
extern "Python+C" void llamamtp_py_sampler_accept(void * handle, llama_token token);
