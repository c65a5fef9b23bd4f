// JSON schema to GBNF through llama.cpp's common library. Every C++ exception
// stops here and becomes a NULL return with a message for llamamtp_last_error().

#include <exception>
#include <string>

#include "json-schema-to-grammar.h"
#include "shim.h"

extern "C" const char * llamamtp_json_schema_to_grammar(const char * schema_json) {
    thread_local std::string grammar;
    if (schema_json == nullptr) {
        shim_set_error("the JSON schema is NULL");
        return nullptr;
    }
    try {
        grammar = json_schema_to_grammar(common_json::parse(schema_json), true);
    } catch (const std::exception & error) {
        shim_set_error("%s", error.what());
        return nullptr;
    } catch (...) {
        shim_set_error("unknown C++ exception while converting the JSON schema");
        return nullptr;
    }
    return grammar.c_str();
}
