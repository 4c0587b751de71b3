// Password hashing for the auth store: bcrypt, as etcd (golang.org/x/crypto
// bcrypt), through libxcrypt's crypt_r with the "$2b$" prefix. Hashes made
// by etcd ("$2a$") verify too, so users restored from an etcd backup keep
// their passwords.
// Thread-safety: stateless; each call uses its own crypt_data.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace server {

// etcd's bounds for --bcrypt-cost (bcrypt.MinCost, MaxCost, DefaultCost).
inline constexpr int kBcryptMinCost = 4;
inline constexpr int kBcryptMaxCost = 31;
inline constexpr int kBcryptDefaultCost = 10;

// A bcrypt hash of `password` with a fresh random salt at `cost`.
[[nodiscard]] absl::StatusOr<std::string> HashPassword(std::string_view password, int cost);

// Whether `password` hashes to `hash` (compared in constant time). False
// for a malformed hash.
bool PasswordMatches(std::string_view password, std::string_view hash);

}  // namespace server
