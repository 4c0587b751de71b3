#include "bench/report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace ketcd::bench {
namespace {

double Ms(uint64_t us) { return static_cast<double>(us) / 1000.0; }

// Power-of-two bins between the fastest and slowest sample: few enough to
// read, fine enough to see a second mode.
struct DisplayBin {
  uint64_t upper_us;
  uint64_t count;
};
std::vector<DisplayBin> DisplayBins(const LatencyHistogram& h) {
  std::vector<DisplayBin> out;
  for (const auto& b : h.NonEmpty()) {
    uint64_t upper = 1;
    while (upper < b.upper_micros + 1) upper <<= 1;
    if (out.empty() || out.back().upper_us != upper) {
      while (!out.empty() && out.back().upper_us * 2 < upper) {
        out.push_back({out.back().upper_us * 2, 0});
      }
      out.push_back({upper, 0});
    }
    out.back().count += b.count;
  }
  return out;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

void PrintOne(const RunInfo& info, const Recorder& r) {
  const auto& h = r.latency();
  uint64_t ok = h.Count();
  std::printf("%s: %" PRIu64 " ok, %" PRIu64 " errors in %.3f s, %.1f req/s\n", r.name().c_str(), ok,
              r.Errors(), info.duration_s, info.duration_s > 0 ? ok / info.duration_s : 0.0);
  if (ok == 0) return;
  std::printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
              Ms(h.Percentile(0.5)), Ms(h.Percentile(0.9)), Ms(h.Percentile(0.99)),
              Ms(h.Percentile(0.999)), Ms(h.MaxMicros()), h.MeanMicros() / 1000.0);
  auto bins = DisplayBins(h);
  uint64_t most = 0;
  for (const auto& b : bins) most = std::max(most, b.count);
  std::printf("  histogram (ms, upper bound):\n");
  for (const auto& b : bins) {
    int bar = most == 0 ? 0 : static_cast<int>(40.0 * b.count / most + 0.5);
    std::printf("  %10.3f [%9" PRIu64 "] |%s\n", Ms(b.upper_us), b.count, std::string(bar, '#').c_str());
  }
}

}  // namespace

void PrintSummary(const RunInfo& info, const std::vector<const Recorder*>& recorders) {
  std::printf("Summary (%s, %d clients, %d conns, endpoints %s, %s)\n", info.command.c_str(), info.clients,
              info.conns, info.endpoints.c_str(), info.tls ? "TLS" : "plaintext");
  for (const Recorder* r : recorders) PrintOne(info, *r);
  bool any_errors = false;
  for (const Recorder* r : recorders) {
    for (const auto& e : r->ErrorsByCode()) {
      if (!any_errors) std::printf("Errors:\n");
      any_errors = true;
      std::printf("  %s %s: %" PRIu64 " (first: %s)\n", r->name().c_str(), CodeName(e.code).c_str(), e.count,
                  e.first_message.c_str());
    }
  }
  for (const auto& n : info.notes) std::printf("%s\n", n.c_str());
  std::printf("Client CPU: %.2f s (%.2f cores over %.2f s)\n", info.client_cpu_s,
              info.duration_s > 0 ? info.client_cpu_s / info.duration_s : 0.0, info.duration_s);
  std::fflush(stdout);
}

bool WriteJson(const std::string& path, const RunInfo& info,
               const std::vector<const Recorder*>& recorders) {
  std::ostringstream o;
  o << "{\"tool\":\"ketcd-bench\",\"command\":" << JsonString(info.command) << ",\"argv\":[";
  for (size_t i = 0; i < info.argv.size(); ++i) o << (i ? "," : "") << JsonString(info.argv[i]);
  o << "],\"endpoints\":" << JsonString(info.endpoints) << ",\"tls\":" << (info.tls ? "true" : "false")
    << ",\"clients\":" << info.clients
    << ",\"conns\":" << info.conns << ",\"seed\":" << info.seed << ",\"duration_s\":" << Num(info.duration_s)
    << ",\"client_cpu_s\":" << Num(info.client_cpu_s);
  for (const auto& [k, v] : info.extra) o << "," << JsonString(k) << ":" << Num(v);
  o << ",\"notes\":[";
  for (size_t i = 0; i < info.notes.size(); ++i) o << (i ? "," : "") << JsonString(info.notes[i]);
  o << "],\"results\":[";
  for (size_t i = 0; i < recorders.size(); ++i) {
    const Recorder& r = *recorders[i];
    const auto& h = r.latency();
    o << (i ? "," : "") << "{\"name\":" << JsonString(r.name()) << ",\"ok\":" << h.Count()
      << ",\"errors\":" << r.Errors()
      << ",\"rps\":" << Num(info.duration_s > 0 ? h.Count() / info.duration_s : 0.0)
      << ",\"latency_ms\":{\"p50\":" << Num(Ms(h.Percentile(0.5))) << ",\"p90\":" << Num(Ms(h.Percentile(0.9)))
      << ",\"p99\":" << Num(Ms(h.Percentile(0.99))) << ",\"p99.9\":" << Num(Ms(h.Percentile(0.999)))
      << ",\"max\":" << Num(Ms(h.MaxMicros())) << ",\"min\":" << Num(Ms(h.MinMicros()))
      << ",\"mean\":" << Num(h.MeanMicros() / 1000.0) << "},\"histogram_ms\":[";
    auto bins = h.NonEmpty();
    for (size_t b = 0; b < bins.size(); ++b) {
      o << (b ? "," : "") << "[" << Num(Ms(bins[b].upper_micros)) << "," << bins[b].count << "]";
    }
    o << "],\"errors_by_code\":[";
    auto errs = r.ErrorsByCode();
    for (size_t e = 0; e < errs.size(); ++e) {
      o << (e ? "," : "") << "{\"code\":" << JsonString(CodeName(errs[e].code)) << ",\"count\":" << errs[e].count
        << ",\"message\":" << JsonString(errs[e].first_message) << "}";
    }
    o << "],\"per_second\":[";
    auto secs = r.PerSecond();
    for (size_t s = 0; s < secs.size(); ++s) {
      o << (s ? "," : "") << "{\"t\":" << secs[s].second << ",\"count\":" << secs[s].count
        << ",\"p50_ms\":" << Num(Ms(secs[s].p50_us)) << ",\"p99_ms\":" << Num(Ms(secs[s].p99_us))
        << ",\"max_ms\":" << Num(Ms(secs[s].max_us)) << ",\"mean_ms\":" << Num(secs[s].mean_us / 1000.0) << "}";
    }
    o << "]}";
  }
  o << "]}\n";
  std::ofstream f(path, std::ios::trunc);
  f << o.str();
  f.close();
  if (!f) {
    std::fprintf(stderr, "ketcd-bench: cannot write %s\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace ketcd::bench
