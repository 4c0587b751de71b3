#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "storage/crc32c.h"

namespace storage {
namespace {

TEST_CASE("crc32c matches the RFC 3720 check values", "[crc32c]") {
  CHECK(Crc32c("123456789") == 0xE3069283u);
  CHECK(Crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(Crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  std::string inc;
  for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
  CHECK(Crc32c(inc) == 0x46DD794Eu);
  CHECK(Crc32c("") == 0u);
}

TEST_CASE("crc32c: hardware and table paths agree; extend composes", "[crc32c]") {
  std::mt19937_64 rng(42);
  for (int n : {0, 1, 7, 8, 9, 63, 64, 65, 1000, 4097}) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    for (size_t skew = 0; skew < 8 && skew <= s.size(); ++skew) {
      std::string_view v = std::string_view(s).substr(skew);
      CHECK(Crc32c(v) == Crc32cExtendPortable(0, v.data(), v.size()));
    }
    size_t cut = s.size() / 3;
    CHECK(Crc32cExtend(Crc32c(s.data(), cut), s.data() + cut, s.size() - cut) == Crc32c(s));
  }
}

}  // namespace
}  // namespace storage
