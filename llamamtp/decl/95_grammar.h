/*
 * JSON schema to GBNF, through llama.cpp's common/json-schema-to-grammar
 * (llamamtp/native/grammar.cpp). Valid C, read by cffi and by the C++ source.
 */

/*
 * Convert a JSON schema (UTF-8 JSON text) to a GBNF grammar whose root rule
 * is "root". Returns the grammar, owned by the shim and valid until the next
 * call on this thread, or NULL when the text is not JSON or the schema uses
 * something the converter rejects (see llamamtp_last_error).
 */
const char * llamamtp_json_schema_to_grammar(const char * schema_json);
