/* Model quantization (include/llama.h). */

enum llama_ftype {
    LLAMA_FTYPE_ALL_F32,
    LLAMA_FTYPE_MOSTLY_F16,
    LLAMA_FTYPE_MOSTLY_Q4_0,
    LLAMA_FTYPE_MOSTLY_Q8_0,
    LLAMA_FTYPE_MOSTLY_Q4_K_S,
    LLAMA_FTYPE_MOSTLY_Q4_K_M,
    LLAMA_FTYPE_MOSTLY_Q5_K_M,
    LLAMA_FTYPE_MOSTLY_Q6_K,
    LLAMA_FTYPE_MOSTLY_BF16,
    ...
};

typedef struct llama_model_quantize_params {
    int32_t nthread;
    enum llama_ftype ftype;
    bool allow_requantize;
    bool quantize_output_tensor;
    bool only_copy;
    bool pure;
    ...;
} llama_model_quantize_params;

struct llama_model_quantize_params llama_model_quantize_default_params(void);
const char * llama_ftype_name(enum llama_ftype ftype);
enum llama_ftype llama_model_ftype(const struct llama_model * model);

/* Returns 0 on success. */
uint32_t llama_model_quantize(const char * fname_inp, const char * fname_out, const llama_model_quantize_params * params);
