#include "tools/snapshot_save.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "etcdserverpb/rpc.grpc.pb.h"
#include "grpc/support/log.h"
#include "grpcpp/grpcpp.h"
#include "storage/etcd_backup.h"
#include "tools/etcdctl_cli.h"
#include "tools/progress.h"

namespace tools {
namespace {

// SIGINT, SIGTERM and SIGHUP become a cancel of the running call, so an
// interrupted save still removes FILE.part (etcdctl leaves it behind).
// Built before any gRPC thread exists, so that they all block the signals.
class Interrupts {
 public:
  Interrupts() {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, sig);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] { Wait(); });
  }
  ~Interrupts() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    pthread_kill(thread_.native_handle(), SIGTERM);  // wakes sigwait
    thread_.join();
  }
  // The call a signal cancels (nullptr: none).
  void Watch(grpc::ClientContext* context) {
    std::lock_guard<std::mutex> lock(mu_);
    context_ = context;
    if (context_ != nullptr && signal_ != 0) context_->TryCancel();
  }
  int signal() {
    std::lock_guard<std::mutex> lock(mu_);
    return signal_;
  }

 private:
  void Wait() {
    for (;;) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      signal_ = sig;
      if (context_ != nullptr) context_->TryCancel();
    }
  }
  sigset_t set_;
  std::thread thread_;
  std::mutex mu_;
  bool stopping_ = false;
  int signal_ = 0;
  grpc::ClientContext* context_ = nullptr;
};

// FILE.part: removed when destroyed unless Commit() renamed it into place.
class PartFile {
 public:
  PartFile(std::string part, std::string path) : part_(std::move(part)), path_(std::move(path)) {}
  ~PartFile() {
    if (fd_ >= 0) ::close(fd_);
    if (created_ && !committed_) ::unlink(part_.c_str());
  }
  absl::Status Open() {
    fd_ = ::open(part_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) return Errno({"could not open ", part_, " (open ", part_}, ")");
    created_ = true;
    return absl::OkStatus();
  }
  absl::Status Write(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Errno({"write ", part_});
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }
  // fsync, close, rename to the path, fsync the directory.
  absl::Status Commit() {
    if (::fsync(fd_) != 0) return Errno({"fsync ", part_});
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return Errno({"close ", part_});
    if (::rename(part_.c_str(), path_.c_str()) != 0) {
      return Errno({"could not rename ", part_, " to ", path_, " (rename"}, ")");
    }
    committed_ = true;
    std::string dir = std::filesystem::path(path_).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return Errno({"open ", dir});
    absl::Status synced = ::fsync(dfd) == 0 ? absl::OkStatus() : Errno({"fsync ", dir});
    ::close(dfd);
    return synced;
  }

 private:
  // "<what...>: strerror(errno)<after>"; the pieces are views, so nothing
  // runs between the failed call and reading errno.
  static absl::Status Errno(std::initializer_list<std::string_view> what, std::string_view after = "") {
    int err = errno;
    std::string text;
    for (std::string_view piece : what) text.append(piece);
    return absl::InternalError(text + ": " + std::strerror(err) + std::string(after));
  }
  std::string part_, path_;
  int fd_ = -1;
  bool created_ = false;
  bool committed_ = false;
};

// SHA-256 of everything but the last 32 bytes, which are kept as the trailer.
class TrailerCheck {
 public:
  TrailerCheck() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr);
  }
  void Add(std::string_view bytes) {
    const size_t k = storage::kBackupHashSize;
    if (bytes.size() >= k) {
      EVP_DigestUpdate(ctx_.get(), tail_.data(), tail_.size());
      EVP_DigestUpdate(ctx_.get(), bytes.data(), bytes.size() - k);
      tail_.assign(bytes.substr(bytes.size() - k));
      return;
    }
    tail_.append(bytes);
    if (tail_.size() > k) {
      EVP_DigestUpdate(ctx_.get(), tail_.data(), tail_.size() - k);
      tail_.erase(0, tail_.size() - k);
    }
  }
  // OK when the trailer is the digest of the rest.
  absl::Status Verify() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex(ctx_.get(), digest, &size);
    std::string actual(reinterpret_cast<char*>(digest), size);
    if (actual == tail_) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat("snapshot integrity check failed: the sha256 trailer says ",
                                            absl::BytesToHexString(tail_), ", the received bytes hash to ",
                                            absl::BytesToHexString(actual)));
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
  std::string tail_;
};

// Go's codes.Code.String() for "rpc error: code = X desc = Y".
const char* GoCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                                       "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                                       "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
                                       "Internal", "Unavailable", "DataLoss", "Unauthenticated"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "Unknown";
}

std::chrono::system_clock::time_point DeadlineAfter(std::chrono::nanoseconds d) {
  if (d.count() <= 0) return std::chrono::system_clock::time_point::max();
  return std::chrono::system_clock::now() + std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
}

// Streams the snapshot into `file`; the number of bytes received.
absl::Status Receive(etcdserverpb::Maintenance::Stub& stub, grpc::ClientContext* context, PartFile* file,
                     Interrupts* interrupts, uint64_t* size) {
  TrailerCheck trailer;
  ProgressLine progress;
  interrupts->Watch(context);
  std::unique_ptr<grpc::ClientReader<etcdserverpb::SnapshotResponse>> reader =
      stub.Snapshot(context, etcdserverpb::SnapshotRequest());
  etcdserverpb::SnapshotResponse resp;
  absl::Status written;
  while (written.ok() && reader->Read(&resp)) {
    written = file->Write(resp.blob());
    trailer.Add(resp.blob());
    *size += resp.blob().size();
    progress.Update(*size, *size + resp.remaining_bytes(), "", resp.remaining_bytes() == 0);
  }
  if (!written.ok()) context->TryCancel();
  grpc::Status s = reader->Finish();
  interrupts->Watch(nullptr);
  if (!written.ok()) return written;
  if (int sig = interrupts->signal(); sig != 0) {
    return absl::CancelledError(absl::StrCat("interrupted by signal ", sig, " (", strsignal(sig), ")"));
  }
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError("context deadline exceeded");
  }
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("rpc error: code = ", GoCodeName(s.error_code()), " desc = ", s.error_message()));
  }
  if (*size % 512 != storage::kBackupHashSize) {
    return absl::DataLossError(absl::StrCat("sha256 checksum not found [bytes: ", *size, "]"));
  }
  return trailer.Verify();
}

// clientv3's getToken at dial: the token for the Snapshot call; "" when
// the server has auth disabled.
absl::StatusOr<std::string> Authenticate(const std::shared_ptr<grpc::Channel>& channel,
                                         const SaveOptions& o) {
  grpc::ClientContext context;
  if (o.dial_timeout.count() > 0) context.set_deadline(DeadlineAfter(o.dial_timeout));
  etcdserverpb::AuthenticateRequest req;
  req.set_name(o.credentials->first);
  req.set_password(o.credentials->second);
  etcdserverpb::AuthenticateResponse resp;
  grpc::Status s = etcdserverpb::Auth::NewStub(channel)->Authenticate(&context, req, &resp);
  if (s.ok()) return resp.token();
  if (s.error_message() == "etcdserver: authentication is not enabled") return std::string();
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError("context deadline exceeded");
  }
  // etcdctl prints the server's error as it is (etcd's rpctypes text).
  return absl::UnauthenticatedError(s.error_message());
}

}  // namespace

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> UserCredentials(
    const std::string& user, const std::string& password,
    const std::function<absl::StatusOr<std::string>()>& ask) {
  using Pair = std::pair<std::string, std::string>;
  if (user.empty()) return std::optional<Pair>();
  if (!password.empty()) return std::optional<Pair>(Pair(user, password));
  const size_t colon = user.find(':');
  if (colon != std::string::npos) {
    return std::optional<Pair>(Pair(user.substr(0, colon), user.substr(colon + 1)));
  }
  absl::StatusOr<std::string> asked = ask();
  if (!asked.ok()) return asked.status();
  return std::optional<Pair>(Pair(user, *asked));
}

absl::Status SaveSnapshot(const SaveOptions& o, const std::string& path) {
  if (o.endpoints.size() != 1) {
    return absl::FailedPreconditionError(
        "snapshot must be requested to one selected node, not multiple " + GoSliceString(o.endpoints));
  }
  Interrupts interrupts;  // before any gRPC object: gRPC's threads inherit the blocked signals
  // gRPC's own log lines (a failed handshake, each retry) would precede
  // "Error: ..." on stderr; as etcdctl, the one error says it all.
  gpr_set_log_function([](gpr_log_func_args*) {});
  Endpoints endpoints;
  std::string error;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (ParseEndpoints(o.endpoints[0], o.tls, &endpoints, &error)) creds = Credentials(endpoints.tls, o.tls, &error);
  if (creds == nullptr) return absl::InvalidArgumentError(error);

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(endpoints.targets[0], creds, args);
  if (!channel->WaitForConnected(DeadlineAfter(o.dial_timeout))) {
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to ", o.endpoints[0], " within --dial-timeout ", o.dial_timeout_text,
        ": context deadline exceeded",
        endpoints.tls ? " (TLS: does --cacert verify the server's certificate and does it name this host; "
                        "does the server trust --cert?)"
                      : ""));
  }
  if (int sig = interrupts.signal(); sig != 0) {
    return absl::CancelledError(absl::StrCat("interrupted by signal ", sig, " (", strsignal(sig), ")"));
  }
  grpc::ClientContext context;
  if (o.command_timeout) context.set_deadline(DeadlineAfter(*o.command_timeout));
  if (o.credentials) {
    absl::StatusOr<std::string> token = Authenticate(channel, o);
    if (!token.ok()) return token.status();
    if (!token->empty()) context.AddMetadata("token", *token);
  }
  PartFile file(path + ".part", path);
  if (absl::Status s = file.Open(); !s.ok()) return s;
  auto stub = etcdserverpb::Maintenance::NewStub(channel);
  uint64_t size = 0;
  if (absl::Status s = Receive(*stub, &context, &file, &interrupts, &size); !s.ok()) return s;
  return file.Commit();
}

}  // namespace tools
