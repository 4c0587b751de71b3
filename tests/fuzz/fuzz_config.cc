// Fuzz target: the member's text inputs from its operator — the
// --config-file YAML reader (server/boot/config_file.cc) through ParseConfig
// exactly as main() reaches it, every flag's parser behind it, the URL
// parser (server/net/url.cc) and Go's duration syntax (base/go_duration.cc).
// The whole input goes to each: as a URL, a comma-separated URL list and a
// duration, then, written to a file of the scratch directory, as the config
// file.
//
// Properties: no crash and no exception escapes; a duration that parses
// prints as Go prints it and parses back to itself; a URL that parses
// keeps a host and a port in range.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/go_duration.h"
#include "server/boot/config.h"
#include "server/net/url.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void Duration(std::string_view text) {
  auto d = base::ParseGoDuration(text);
  if (!d.ok()) return;
  FUZZ_NOTE("duration: %s", base::FormatGoDuration(*d).c_str());
  const std::string printed = base::FormatGoDuration(*d);
  auto back = base::ParseGoDuration(printed);
  FUZZ_CHECK(back.ok() && *back == *d, "duration \"%s\" printed as \"%s\" does not parse back to itself",
             std::string(text).c_str(), printed.c_str());
}

void Url(const std::string& text) {
  auto url = server::ParseUrl(text);
  FUZZ_NOTE("url: %s", url.ok() ? url->HostPort().c_str() : url.status().ToString().c_str());
  if (url.ok()) {
    FUZZ_CHECK(!url->host.empty() && url->port >= 0 && url->port <= 65535, "URL \"%s\" parsed to %s",
               text.c_str(), url->HostPort().c_str());
  }
  (void)server::ParseUrlList(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ketcd_fuzz::ScratchDir scratch("config");
  static const std::string path = scratch.Sub("ketcd.conf.yml");
  const std::string text(reinterpret_cast<const char*>(data), size);
  Duration(text);
  Url(text);

  ketcd_fuzz::WriteFileOrDie(path, text);
  // No ETCD_* variable: the file is the only source, as etcd reads it.
  auto no_env = [](const std::string&) { return std::optional<std::string>(); };
  auto parsed = server::ParseConfig({"--config-file", path}, no_env);
  if (auto* exit = std::get_if<server::ConfigExit>(&parsed)) {
    FUZZ_NOTE("config: exit %d: %s", exit->code, exit->err.c_str());
  }
  if (auto* cfg = std::get_if<server::Config>(&parsed)) {
    FUZZ_NOTE("config: name %s, %zu client URLs", cfg->name.c_str(), cfg->listen_client_urls.size());
    FUZZ_CHECK(cfg->config_file == path, "the config names file \"%s\"", cfg->config_file.c_str());
  }
  return 0;
}
