#include "server/state/password.h"

#include <crypt.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace server {

absl::StatusOr<std::string> HashPassword(std::string_view password, int cost) {
  // crypt_r reads a NUL-terminated password: one with a NUL inside would be
  // cut there, so it is refused rather than silently shortened.
  if (password.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError("password contains a NUL byte");
  }
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  // rbytes = null: libxcrypt draws the salt from the OS's random source.
  if (crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, salt,
                       sizeof salt) == nullptr) {
    return absl::InternalError(absl::StrCat("bcrypt salt at cost ", cost, ": ", std::strerror(errno)));
  }
  auto data = std::make_unique<crypt_data>();  // ~32 KiB: not on the stack
  std::memset(data.get(), 0, sizeof(crypt_data));
  const std::string pw(password);
  const char* hash = crypt_r(pw.c_str(), salt, data.get());
  if (hash == nullptr || hash[0] == '*') return absl::InternalError("bcrypt hashing failed");
  return std::string(hash);
}

bool PasswordMatches(std::string_view password, std::string_view hash) {
  if (hash.empty() || password.find('\0') != std::string_view::npos) return false;
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const std::string pw(password);
  const std::string setting(hash);
  const char* got = crypt_r(pw.c_str(), setting.c_str(), data.get());
  if (got == nullptr || got[0] == '*') return false;
  const size_t n = std::strlen(got);
  if (n != hash.size()) return false;
  // Every byte is compared whatever differs first, so the time taken says
  // nothing about how much of the hash matched.
  unsigned char diff = 0;
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(got[i] ^ hash[i]);
  return diff == 0;
}

}  // namespace server
