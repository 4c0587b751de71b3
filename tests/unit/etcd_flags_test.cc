// Every flag of etcd 3.5's `etcd --help` (testdata/etcd-3.5-flags.txt) is
// known to ketcd: at etcd's default it starts ketcd silently; at another
// value it is used, or accepted with a warning that names it, or refused
// with a message that names it and says it is not supported.
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "server/boot/config.h"

namespace ketcd_test {
namespace {

struct EtcdFlag {
  std::string name;           // "--max-wals"
  std::string etcd_default;   // "5"
};

// Lines "--flag 'default'  # comment"; blank lines and "#" lines skipped.
std::vector<EtcdFlag> ReadFlagList() {
  const auto path = std::filesystem::path(__FILE__).parent_path() / "testdata" / "etcd-3.5-flags.txt";
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<EtcdFlag> flags;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (auto comment = line.find("  #"); comment != std::string::npos) line.resize(comment);
    const size_t space = line.find(' ');
    REQUIRE(space != std::string::npos);
    std::string value(absl::StripAsciiWhitespace(line.substr(space + 1)));
    REQUIRE(value.size() >= 2);
    REQUIRE(value.front() == '\'');
    REQUIRE(value.back() == '\'');
    flags.push_back({line.substr(0, space), value.substr(1, value.size() - 2)});
  }
  return flags;
}

// A valid value other than etcd's default, of the flag's kind.
std::string AnotherValue(const EtcdFlag& f) {
  // --config-file: a file (the README's example), read instead of the flags.
  if (f.name == "--config-file") {
    return (std::filesystem::path(__FILE__).parent_path() / "testdata" / "ketcd.conf.yml").string();
  }
  static const std::map<std::string, std::string> kChoices = {
      {"--name", "m1"},
      {"--data-dir", "/tmp/ketcd-flag-walk"},
      {"--initial-cluster", "default=http://127.0.0.1:23800"},
      {"--initial-cluster-state", "existing"},
      {"--initial-cluster-token", "walk"},
      {"--discovery-fallback", "exit"},
      {"--auto-compaction-mode", "revision"},
      {"--auto-compaction-retention", "1h"},
      {"--v2-deprecation", "gone"},
      {"--backend-bbolt-freelist-type", "array"},
      {"--cors", "http://a.example:80"},
      {"--host-whitelist", "a.example"},
      {"--tls-min-version", "TLS1.3"},
      {"--tls-max-version", "TLS1.3"},
      {"--auth-token", "jwt,pub-key=a.pub,priv-key=a.key,sign-method=RS256"},
      {"--metrics", "extensive"},
      {"--logger", "capnslog"},
      {"--log-outputs", "stdout"},
      {"--log-level", "debug"},
      {"--log-rotation-config-json", R"({"maxsize": 10})"},
      {"--experimental-distributed-tracing-address", "localhost:4318"},
      {"--experimental-distributed-tracing-service-name", "ketcd"},
      {"--proxy", "readonly"},
  };
  if (auto it = kChoices.find(f.name); it != kChoices.end()) return it->second;
  const std::string& d = f.etcd_default;
  if (d == "true") return "false";
  if (d == "false") return "true";
  uint64_t n = 0;
  if (absl::SimpleAtoi(d, &n)) return n == 0 ? "7" : n > 1000000000 ? "1000" : absl::StrCat(n + 1);
  absl::Duration duration;
  if (absl::ParseDuration(d, &duration)) return "3s";
  if (absl::StrContains(f.name, "-urls")) return "http://127.0.0.1:23790";
  return "x";
}

using Parsed = std::variant<server::Config, server::ConfigExit>;

// One flag in --flag=value form, with an empty environment.
Parsed ParseOne(const std::string& flag, const std::string& value) {
  return server::ParseConfig({flag + "=" + value}, [](const std::string&) { return std::optional<std::string>(); });
}

std::string ErrorOf(const Parsed& parsed) {
  const auto* exit = std::get_if<server::ConfigExit>(&parsed);
  return exit == nullptr ? "" : exit->err;
}

}  // namespace

TEST_CASE("etcd flags: each of etcd 3.5's flags is used, accepted with a warning, or refused by name",
          "[config]") {
  const std::vector<EtcdFlag> flags = ReadFlagList();
  CHECK(flags.size() >= 100);
  for (const auto& f : flags) {
    DYNAMIC_SECTION(f.name) {
      auto treatment = server::EtcdFlagTreatment(f.name);
      REQUIRE(treatment.has_value());

      // etcd's default: ketcd starts, and says nothing but (for a flag it
      // does not use) what names that flag.
      const Parsed at_default = ParseOne(f.name, f.etcd_default);
      const auto* cfg = std::get_if<server::Config>(&at_default);
      INFO(ErrorOf(at_default));
      REQUIRE(cfg != nullptr);
      CHECK(cfg->warnings.empty());

      // Another value: used, or accepted with a warning naming the flag, or
      // refused (exit 1) naming it and saying it is not supported.
      const std::string value = AnotherValue(f);
      INFO(f.name << "=" << value);
      const Parsed other = ParseOne(f.name, value);
      if (*treatment == server::FlagTreatment::kRefused) {
        const auto* exit = std::get_if<server::ConfigExit>(&other);
        REQUIRE(exit != nullptr);
        CHECK(exit->code == 1);
        CHECK(absl::StartsWith(exit->err, absl::StrCat("ketcd: ", f.name, "=", value, " is not supported: ")));
      } else {
        const auto* accepted = std::get_if<server::Config>(&other);
        INFO(ErrorOf(other));
        REQUIRE(accepted != nullptr);
        if (*treatment == server::FlagTreatment::kNotUsed) {
          REQUIRE(accepted->warnings.size() == 1);
          CHECK(absl::StartsWith(accepted->warnings[0],
                                 absl::StrCat(f.name, "=", value, " is accepted but not used by ketcd: ")));
        } else {
          CHECK(accepted->warnings.empty());
        }
      }
    }
  }
}

}  // namespace ketcd_test
