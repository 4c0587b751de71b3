// Checks of the certificate files a member is given, made once at start so
// that a missing file, a key that does not belong to its certificate or a
// CA file without a certificate stops the member with an error naming the
// flag and the file -- before anything is written to the data dir and
// before gRPC would fail on it later, per handshake, with a vaguer message.
// Parsing is OpenSSL's; nothing here is hand-rolled crypto.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace server {

// `cert_flag`/`key_flag` name the flags for the messages ("--cert-file").
[[nodiscard]] absl::Status CheckKeyPair(const std::string& cert_flag, const std::string& cert_file,
                                        const std::string& key_flag, const std::string& key_file);
// A PEM bundle with at least one certificate.
[[nodiscard]] absl::Status CheckCaFile(const std::string& flag, const std::string& file);

}  // namespace server
