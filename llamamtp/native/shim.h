// C++ entry to the shim's C declarations in ../decl/80_shim.h.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "llama.h"

extern "C" {
#include "80_shim.h"

// Defined by the cffi module (decl/90_callbacks.h).
void llamamtp_py_log(int32_t level, const char * text);
}
