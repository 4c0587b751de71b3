// Reading JSON request bodies as etcd's gateway does: grpc-gateway decodes
// the body with Go's json.Decoder, which takes the first JSON value and
// leaves whatever follows it (so `{"key":"YQ=="} trailing` is a valid Range
// body, and a watch body is a sequence of values, one request each). Its
// syntax errors are the messages clients see in etcd's error answers
// ("unexpected EOF", "invalid character 'x' looking for beginning of
// value"), so this scanner walks the bytes with the same states and words.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace server {

// The first JSON value in `text` from `*offset` on; `*offset` moves past it.
// nullopt when only whitespace is left (Go's io.EOF); InvalidArgument with
// Go's message when the value is malformed or cut short.
[[nodiscard]] absl::StatusOr<std::optional<absl::string_view>> NextJsonValue(absl::string_view text,
                                                                            size_t* offset);

// Go's quoting of a byte in its scanner messages: 'x', '\n', '\x00'.
std::string GoQuoteChar(unsigned char c);

}  // namespace server
