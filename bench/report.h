// Report: turns the recorders of one ketcd-bench run into the text summary
// (stdout) and the --json file that bench/compare reads.
//
// Contract: call after the run; `duration_s` is the wall time the figures
// are divided by. The JSON carries everything the text shows plus the
// histogram bins and the per-second series.
#pragma once

#include <string>
#include <vector>

#include "bench/recorder.h"

namespace ketcd::bench {

struct RunInfo {
  std::string command;              // put, range, txn-mixed, ...
  std::vector<std::string> argv;    // as given, for the record
  std::string endpoints;
  bool tls = false;                 // dialed with TLS (https://)
  int clients = 0;
  int conns = 0;
  uint64_t seed = 0;
  double duration_s = 0;            // wall time of the measured phase
  double client_cpu_s = 0;          // this process's user+system CPU during it
  std::vector<std::string> notes;   // extra lines (e.g. watch completeness)
  std::vector<std::pair<std::string, double>> extra;  // extra numeric fields
};

void PrintSummary(const RunInfo& info, const std::vector<const Recorder*>& recorders);
// Returns false (with a message on stderr) if the file cannot be written.
bool WriteJson(const std::string& path, const RunInfo& info,
               const std::vector<const Recorder*>& recorders);

}  // namespace ketcd::bench
