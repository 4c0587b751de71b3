// ketcdctl: etcdctl's commands that ketcd needs a tool of its own for, with
// etcdctl 3.4's command and flag names, output and exit codes, against
// ketcd or etcd:
//
//   ketcdctl [--endpoints E] [--cacert F --cert F --key F] [--dial-timeout D]
//            [--command-timeout D] [--user U[:P]] [--password P] snapshot save FILE
//   ketcdctl snapshot status FILE [-w simple|table|json|fields] [--skip-hash-check]
//   ketcdctl snapshot restore FILE [--data-dir D] [--name N] [--initial-cluster C]
//            [--initial-cluster-token T] [--initial-advertise-peer-urls U]
//            [--skip-hash-check]
//
// Global flags go before or after the command and each also comes from its
// ETCDCTL_* variable (the flag wins), as etcdctl. Errors print "Error: ..."
// on stderr; exit codes are etcdctl's (tools/etcdctl_cli.h): 5 for a failed
// save, 1 for a failed status or restore, 128 for a bad argument count or flag value
// refused before dialing, 4 for an unsupported -w, 1 for an unknown flag.
// `snapshot status` checks the file's SHA-256 trailer where etcdctl does
// not; --skip-hash-check (as `snapshot restore`'s) reads a db file copied
// from a data dir. `snapshot restore` builds a ketcd data dir
// (tools/snapshot_restore.h).
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "base/clock.h"
#include "base/logger.h"
#include "base/mutex_checks.h"
#include "tools/etcdctl_cli.h"
#include "tools/snapshot_restore.h"
#include "tools/snapshot_save.h"
#include "tools/snapshot_status.h"

namespace {

using tools::ExitCode;

struct GlobalFlags {
  std::vector<std::string> endpoints{"127.0.0.1:2379"};
  tools::TlsFiles tls;
  std::string dial_timeout = "2s";
  std::string command_timeout = "5s";
  std::string write_out = "simple";
  std::string user, password;
};

// speakeasy.Ask, as etcdctl prompts for a password: the prompt on stdout,
// the line read from the terminal on stdin without echo; a stdin that is
// not a terminal fails as Go's ioctl does.
absl::StatusOr<std::string> AskPassword() {
  termios saved{};
  if (::tcgetattr(STDIN_FILENO, &saved) != 0) return absl::UnknownError(tools::GoErrnoText(errno));
  std::fputs("Password: ", stdout);
  std::fflush(stdout);
  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string line;
  std::getline(std::cin, line);
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  std::fputs("\n", stdout);
  return line;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "Error: %s\n", message.c_str());
  return code;
}

// A Go duration flag; false with pflag's error printed.
bool Duration(const char* flag, const std::string& text, std::chrono::nanoseconds* out) {
  std::optional<std::chrono::nanoseconds> d = tools::ParseGoDuration(text);
  if (!d) {
    Fail(tools::kExitError, "invalid argument \"" + text + "\" for \"" + flag +
                                "\" flag: time: invalid duration \"" + text + "\"");
    return false;
  }
  *out = *d;
  return true;
}

int Save(const GlobalFlags& g, const CLI::Option* command_timeout, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(tools::kExitBadArgs, "snapshot save expects one argument");
  tools::SaveOptions o;
  o.endpoints = tools::SplitStringSlice(g.endpoints);
  o.tls = g.tls;
  o.dial_timeout_text = g.dial_timeout;
  std::chrono::nanoseconds timeout{};
  if (!Duration("--dial-timeout", g.dial_timeout, &o.dial_timeout) ||
      !Duration("--command-timeout", g.command_timeout, &timeout)) {
    return tools::kExitError;
  }
  // etcdctl 3.4: "if user does not specify --command-timeout flag, there
  // will be no timeout for snapshot save command".
  if (command_timeout->count() > 0) o.command_timeout = timeout;
  auto credentials = tools::UserCredentials(g.user, g.password, AskPassword);
  if (!credentials.ok()) return Fail(tools::kExitError, std::string(credentials.status().message()));
  o.credentials = *credentials;
  absl::Status s = tools::SaveSnapshot(o, args[0]);
  if (!s.ok()) {
    return Fail(absl::IsInvalidArgument(s) ? tools::kExitBadArgs : tools::kExitInterrupted,
                std::string(s.message()));
  }
  std::printf("Snapshot saved at %s\n", args[0].c_str());
  return tools::kExitSuccess;
}

int Status(const GlobalFlags& g, bool skip_hash_check, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(tools::kExitBadArgs, "snapshot status requires exactly one argument");
  tools::FormatError format_error;
  std::string out;
  // etcdctl picks the printer before reading the file.
  if (!tools::FormatSnapshotStatus({}, g.write_out, &out, &format_error)) {
    return Fail(format_error.exit_code, format_error.message);
  }
  absl::StatusOr<storage::BackupStatus> st = tools::SnapshotStatus(args[0], skip_hash_check);
  if (!st.ok()) return Fail(tools::kExitError, std::string(st.status().message()));
  if (!tools::FormatSnapshotStatus(*st, g.write_out, &out, &format_error)) {
    return Fail(format_error.exit_code, format_error.message);
  }
  std::fputs(out.c_str(), stdout);
  return tools::kExitSuccess;
}

int Restore(const tools::RestoreOptions& options, const std::vector<std::string>& args) {
  if (args.size() != 1) return Fail(tools::kExitBadArgs, "snapshot restore requires exactly one argument");
  base::RealClock clock;
  // etcdctl logs its restore as zap's production JSON on stderr.
  base::Logger logger(&clock, base::LogFormat::kJson);
  absl::Status s = tools::RestoreSnapshot(args[0], options, logger);
  if (!s.ok()) return Fail(tools::kExitError, std::string(s.message()));
  return tools::kExitSuccess;
}

int Run(int argc, char** argv) {
  GlobalFlags g;
  CLI::App app{"ketcdctl: etcdctl's snapshot commands for ketcd and etcd", "ketcdctl"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--endpoints", g.endpoints, "gRPC endpoints (comma-separated)")
      ->envname("ETCDCTL_ENDPOINTS")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->capture_default_str();
  app.add_option("--cacert", g.tls.cacert, "verify certificates of TLS-enabled secure servers using this CA bundle")
      ->envname("ETCDCTL_CACERT");
  app.add_option("--cert", g.tls.cert, "identify secure client using this TLS certificate file")
      ->envname("ETCDCTL_CERT");
  app.add_option("--key", g.tls.key, "identify secure client using this TLS key file")->envname("ETCDCTL_KEY");
  app.add_option("--dial-timeout", g.dial_timeout, "dial timeout for client connections")
      ->envname("ETCDCTL_DIAL_TIMEOUT")
      ->capture_default_str();
  CLI::Option* command_timeout =
      app.add_option("--command-timeout", g.command_timeout,
                     "timeout for short running command (excluding dial timeout); snapshot save has none unless given")
          ->envname("ETCDCTL_COMMAND_TIMEOUT")
          ->capture_default_str();
  app.add_option("--user", g.user, "username[:password] for authentication (prompt if password is not supplied)")
      ->envname("ETCDCTL_USER");
  app.add_option("--password", g.password,
                 "password for authentication (if this option is used, --user option shouldn't include password)")
      ->envname("ETCDCTL_PASSWORD");
  app.add_option("-w,--write-out", g.write_out, "set the output format (fields, json, simple, table)")
      ->envname("ETCDCTL_WRITE_OUT")
      ->capture_default_str();

  CLI::App* snapshot = app.add_subcommand("snapshot", "Manages etcd node snapshots");
  snapshot->require_subcommand(1);
  snapshot->fallthrough();
  std::vector<std::string> save_args, status_args;
  CLI::App* save = snapshot->add_subcommand("save", "Stores an etcd node backend snapshot to a given file");
  save->fallthrough();
  save->add_option("filename", save_args, "<filename>");
  CLI::App* status = snapshot->add_subcommand("status", "Gets backend snapshot status of a given file");
  status->fallthrough();
  status->add_option("filename", status_args, "<filename>");
  bool skip_hash_check = false;
  status->add_flag("--skip-hash-check", skip_hash_check,
                   "read a db file without the sha256 trailer (copied from a data directory)");
  std::vector<std::string> restore_args;
  tools::RestoreOptions restore_options;
  CLI::App* restore =
      snapshot->add_subcommand("restore", "Restores an etcd member snapshot to an etcd directory");
  restore->fallthrough();
  // pflag: a flag given twice takes the last value.
  restore->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  restore->add_option("filename", restore_args, "<filename>");
  restore->add_option("--data-dir", restore_options.data_dir, "Path to the data directory");
  restore->add_option("--wal-dir", restore_options.wal_dir,
                      "Path to the WAL directory (not supported: ketcd keeps it in --data-dir)");
  restore->add_option("--initial-cluster", restore_options.initial_cluster,
                      "Initial cluster configuration for restore bootstrap")
      ->capture_default_str();
  restore->add_option("--initial-cluster-token", restore_options.initial_cluster_token,
                      "Initial cluster token for the etcd cluster during restore bootstrap")
      ->capture_default_str();
  restore->add_option("--initial-advertise-peer-urls", restore_options.initial_advertise_peer_urls,
                      "List of this member's peer URLs to advertise to the rest of the cluster")
      ->capture_default_str();
  restore->add_option("--name", restore_options.name, "Human-readable name for this member")
      ->capture_default_str();
  restore->add_flag("--skip-hash-check", restore_options.skip_hash_check,
                    "Ignore snapshot integrity hash value (required if copied from data directory)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return tools::kExitSuccess;
  } catch (const CLI::ParseError& e) {
    return Fail(tools::kExitError, e.what());
  }
  if (save->parsed()) return Save(g, command_timeout, save_args);
  if (restore->parsed()) return Restore(restore_options, restore_args);
  return Status(g, skip_hash_check, status_args);
}

}  // namespace

int main(int argc, char** argv) {
  base::TurnOffMutexDeadlockDetection();
  int code = Run(argc, argv);
  // gRPC may still be tearing down a failed connection (a TLS handshake
  // retry) on its own threads; running static destructors under them has
  // crashed the process after its work was done. Every file is closed and
  // synced by now: flush and leave without them.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}
