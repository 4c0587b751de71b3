#include "server/boot/config_file.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "server/boot/etcd_flags.h"
#include "yaml-cpp/yaml.h"

namespace server {
namespace {

constexpr char kFlag[] = "--config-file";

// etcd's securityConfig keys (3.5, plus 3.6's allowed-cn/-hostname and
// skip-client-san-verification) and the flag each one sets; `crl-file` is
// ketcd's own (etcd has no key for --client-crl-file / --peer-crl-file).
struct BlockKey {
  const char* key;
  const char* flag;
};
constexpr BlockKey kClientSecurity[] = {
    {"cert-file", "--cert-file"},
    {"key-file", "--key-file"},
    {"client-cert-file", "--client-cert-file"},
    {"client-key-file", "--client-key-file"},
    {"client-cert-auth", "--client-cert-auth"},
    {"trusted-ca-file", "--trusted-ca-file"},
    {"auto-tls", "--auto-tls"},
    {"crl-file", "--client-crl-file"},
    {"allowed-hostname", "--client-cert-allowed-hostname"},
};
constexpr BlockKey kPeerSecurity[] = {
    {"cert-file", "--peer-cert-file"},
    {"key-file", "--peer-key-file"},
    {"client-cert-file", "--peer-client-cert-file"},
    {"client-key-file", "--peer-client-key-file"},
    {"client-cert-auth", "--peer-client-cert-auth"},
    {"trusted-ca-file", "--peer-trusted-ca-file"},
    {"auto-tls", "--peer-auto-tls"},
    {"crl-file", "--peer-crl-file"},
    {"allowed-cn", "--peer-cert-allowed-cn"},
    {"allowed-hostname", "--peer-cert-allowed-hostname"},
    {"skip-client-san-verification", "--experimental-peer-skip-client-san-verification"},
};

// Keys that are YAML lists in etcd's file ([]string): a list is joined with
// commas into the flag's value (a plain comma-separated string works too).
constexpr const char* kListKeys[] = {"log-outputs", "cipher-suites", "allowed-cn", "allowed-hostname"};

// Keys that are Go time.Durations in etcd's file: etcd 3.5 reads them only
// as integers of nanoseconds, so a bare integer means nanoseconds here;
// a duration string ("10m") is read as the flag reads it.
constexpr const char* kDurationKeys[] = {
    "experimental-watch-progress-notify-interval", "experimental-corrupt-check-time",
    "experimental-warning-apply-duration", "experimental-warning-unary-request-duration",
    "experimental-downgrade-check-time", "experimental-compact-hash-check-time",
    "experimental-compaction-sleep-interval", "backend-batch-interval",
    "grpc-keepalive-min-time", "grpc-keepalive-interval", "grpc-keepalive-timeout",
};

// Keys that name no setting of the member.
constexpr const char* kNotKeys[] = {"config-file", "help", "version"};

template <size_t N>
bool OneOf(const char* const (&list)[N], absl::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

// One key of the file, as the flag it sets.
struct Setting {
  std::string key;  // as written; "client-transport-security.cert-file" in a block
  std::string flag;
  std::string value;
  YAML::Mark mark;
};

// file:line:column, 1-based, as editors count.
std::string Where(const std::string& path, const YAML::Mark& mark) {
  if (mark.line < 0) return path;
  return absl::StrCat(path, ":", mark.line + 1, ":", mark.column + 1);
}

class FileReader {
 public:
  FileReader(const std::string& path, const CLI::App& app) : path_(path), app_(app) {}

  absl::Status Read(const std::string& text);
  std::vector<Setting>& settings() { return settings_; }

 private:
  absl::Status Key(const YAML::Node& key, const YAML::Node& value, const std::string& block, const char* flag);
  absl::Status Block(const std::string& name, const YAML::Node& value, const BlockKey* keys, size_t n);
  absl::StatusOr<std::string> Value(const std::string& key, absl::string_view short_key, const YAML::Node& value,
                                    bool is_switch) const;
  absl::Status Error(const YAML::Mark& mark, absl::string_view msg) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(path_, mark), ": ", msg));
  }

  const std::string& path_;
  const CLI::App& app_;
  std::vector<Setting> settings_;
  std::map<std::string, const Setting*> by_flag_;  // into settings_ (reserved)
};

absl::Status FileReader::Read(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return Error(e.mark, absl::StrCat("malformed YAML: ", e.msg));
  }
  if (root.IsNull()) return absl::OkStatus();  // an empty file: every default
  if (!root.IsMap()) return Error(root.Mark(), "expected a mapping of etcd configuration keys (name: value)");
  settings_.reserve(root.size() + std::size(kPeerSecurity) + std::size(kClientSecurity));
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    absl::Status s;
    if (key == "client-transport-security") {
      s = Block(key, it->second, kClientSecurity, std::size(kClientSecurity));
    } else if (key == "peer-transport-security") {
      s = Block(key, it->second, kPeerSecurity, std::size(kPeerSecurity));
    } else {
      s = Key(it->first, it->second, "", nullptr);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status FileReader::Block(const std::string& name, const YAML::Node& value, const BlockKey* keys,
                               size_t n) {
  if (value.IsNull()) return absl::OkStatus();
  if (!value.IsMap()) return Error(value.Mark(), absl::StrCat("key \"", name, "\" expects a mapping"));
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    const BlockKey* found = std::find_if(keys, keys + n, [&](const BlockKey& k) { return key == k.key; });
    if (found == keys + n) {
      std::vector<std::string> known;
      for (size_t i = 0; i < n; ++i) known.push_back(keys[i].key);
      return Error(it->first.Mark(), absl::StrCat("unknown key \"", key, "\" in ", name, " (known: ",
                                                  absl::StrJoin(known, ", "), ")"));
    }
    if (auto s = Key(it->first, it->second, name, found->flag); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status FileReader::Key(const YAML::Node& key_node, const YAML::Node& value, const std::string& block,
                             const char* block_flag) {
  if (!key_node.IsScalar()) return Error(key_node.Mark(), "a key must be a plain name");
  const std::string& short_key = key_node.Scalar();
  const std::string key = block.empty() ? short_key : absl::StrCat(block, ".", short_key);
  const std::string flag = block_flag != nullptr ? std::string(block_flag) : absl::StrCat("--", short_key);
  const CLI::Option* opt = OneOf(kNotKeys, short_key) ? nullptr : app_.get_option_no_throw(flag);
  if (opt == nullptr) {
    return Error(key_node.Mark(), absl::StrCat("unknown key \"", key,
                                               "\" (the keys are the names of etcd's flags; see the "
                                               "configuration file section of ketcd's README)"));
  }
  if (value.IsNull()) return absl::OkStatus();  // `key:` with no value keeps the default, as etcd
  auto v = Value(key, short_key, value, opt->get_expected_max() == 0);
  if (!v.ok()) return Error(value.Mark(), v.status().message());
  if (auto prior = by_flag_.find(flag); prior != by_flag_.end()) {
    return Error(key_node.Mark(), absl::StrCat("key \"", key, "\" sets ", flag, ", already set by key \"",
                                               prior->second->key, "\" at ", Where(path_, prior->second->mark)));
  }
  settings_.push_back(Setting{key, flag, *std::move(v), key_node.Mark()});
  by_flag_[flag] = &settings_.back();
  return absl::OkStatus();
}

absl::StatusOr<std::string> FileReader::Value(const std::string& key, absl::string_view short_key,
                                              const YAML::Node& value, bool is_switch) const {
  if (value.IsSequence()) {
    if (!OneOf(kListKeys, short_key)) {
      return absl::InvalidArgumentError(absl::StrCat("key \"", key, "\" expects a single value, not a list"));
    }
    std::vector<std::string> items;
    for (const auto& item : value) {
      if (!item.IsScalar()) {
        return absl::InvalidArgumentError(absl::StrCat("key \"", key, "\" expects a list of plain values"));
      }
      items.push_back(item.Scalar());
    }
    return absl::StrJoin(items, ",");
  }
  if (!value.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat("key \"", key, "\" expects a single value, not a mapping"));
  }
  std::string v = value.Scalar();
  if (is_switch) {
    // YAML 1.1's booleans, which etcd's YAML reader (go-yaml v2) takes.
    const std::string lower = absl::AsciiStrToLower(v);
    if (lower == "y" || lower == "yes" || lower == "on" || lower == "true") return std::string("true");
    if (lower == "n" || lower == "no" || lower == "off" || lower == "false") return std::string("false");
    return v;  // the flag's own parser accepts or refuses it
  }
  if (OneOf(kDurationKeys, short_key) && !v.empty() &&
      std::all_of(v.begin(), v.end(), [](char c) { return absl::ascii_isdigit(c); })) {
    v += "ns";
  }
  return v;
}

// The setting a flag parser's message is about: the longest flag the
// message names (--cert-file, or Go's -cert-file), as a whole word.
const Setting* SettingNamedIn(const std::string& msg, const std::vector<Setting>& settings) {
  auto word = [](char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_'; };
  const Setting* best = nullptr;
  for (const auto& s : settings) {
    const std::string bare = s.flag.substr(2);
    for (size_t p = msg.find(bare); p != std::string::npos; p = msg.find(bare, p + 1)) {
      size_t q = p;
      while (q > 0 && p - q < 2 && msg[q - 1] == '-') --q;
      const bool starts = q < p && (q == 0 || !word(msg[q - 1]));
      const bool ends = p + bare.size() == msg.size() || !word(msg[p + bare.size()]);
      if (starts && ends && (best == nullptr || s.flag.size() > best->flag.size())) best = &s;
    }
  }
  return best;
}

// An exit of the flag parser, said of the file: "ketcd: FILE:LINE:COL: key
// "K": <the flag's message>", exit 1 (etcd exits 1 on a bad config file).
ConfigExit FileExit(const std::string& path, const ConfigExit& flag_exit, const std::vector<Setting>& settings) {
  std::string msg(absl::StripPrefix(flag_exit.err, "ketcd: "));
  if (size_t run = msg.find("\nRun 'ketcd --help'"); run != std::string::npos) msg.resize(run);
  msg = std::string(absl::StripTrailingAsciiWhitespace(msg));
  const Setting* s = SettingNamedIn(msg, settings);
  if (s == nullptr) return RefusalExit(absl::StrCat(path, ": ", msg));
  return RefusalExit(absl::StrCat(Where(path, s->mark), ": key \"", s->key, "\": ", msg));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the config file ", path, ": it is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the config file ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string DefineConfigFileFlag(CLI::App& app, std::string& path) {
  app.add_option(kFlag, path,
                 absl::StrCat("Path to the server configuration file (etcd's YAML keys). When given, the other "
                              "flags and the ETCD_* variables are ignored. [",
                              EtcdEnvName(kFlag), "]"));
  return kFlag;
}

std::string ConfigFilePath(const std::vector<std::string>& args, const EnvLookup& env) {
  std::optional<std::string> path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == kFlag && i + 1 < args.size()) {
      path = args[++i];
    } else if (absl::StartsWith(args[i], absl::StrCat(kFlag, "="))) {
      path = args[i].substr(sizeof(kFlag));
    }
  }
  if (!path) path = env(EtcdEnvName(kFlag));
  return path.value_or("");
}

std::variant<Config, ConfigExit> ParseConfigFile(const std::string& path, const CLI::App& app) {
  auto text = ReadFile(path);
  if (!text.ok()) return RefusalExit(text.status().message());
  FileReader reader(path, app);
  if (auto s = reader.Read(*text); !s.ok()) return RefusalExit(s.message());
  std::vector<std::string> args;
  for (const auto& s : reader.settings()) args.push_back(absl::StrCat(s.flag, "=", s.value));
  auto parsed = ParseConfig(args, [](const std::string&) { return std::optional<std::string>(); });
  if (auto* exit = std::get_if<ConfigExit>(&parsed)) return FileExit(path, *exit, reader.settings());
  std::get<Config>(parsed).config_file = path;
  return parsed;
}

void LogConfigSource(const Config& cfg, base::Logger& logger) {
  if (cfg.config_file.empty()) return;
  logger.Info(
      "loaded server configuration, other configuration command line flags and environment variables will be "
      "ignored if provided",
      {{"path", cfg.config_file}});
}

}  // namespace server
