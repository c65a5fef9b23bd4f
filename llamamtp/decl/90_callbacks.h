/* Python functions the shim calls (cdef only). */

extern "Python+C" void llamamtp_py_log(int32_t level, const char * text);
