// --auto-tls, --peer-auto-tls and --self-signed-cert-validity: the pair
// server/net/self_signed.h makes (a key that matches its certificate, the
// listen hosts as SANs, the validity asked for), the files it keeps and
// reuses, the SecurityConfig a member resolves from the flags, and the
// flags themselves.
#include <arpa/inet.h>
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "catch2/catch.hpp"
#include "server/boot/auto_tls.h"
#include "server/boot/config.h"
#include "server/net/self_signed.h"
#include "server/net/tls_files.h"
#include "server/net/transport_security.h"
#include "storage/member_dir.h"
#include "tests/common/temp_dir.h"

namespace ketcd_test {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1700000000);  // 2023-11-14

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

int Mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 0777);
}

// The certificate's SANs as "IP:127.0.0.1" / "DNS:name".
std::vector<std::string> Sans(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_DNS) {
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                                         ASN1_STRING_length(n->d.dNSName)));
    } else if (n->type == GEN_IPADD) {
      const int len = ASN1_STRING_length(n->d.iPAddress);
      char text[INET6_ADDRSTRLEN] = "?";
      ::inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(n->d.iPAddress), text, sizeof text);
      out.push_back(std::string("IP:") + text);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

absl::Time AsTime(const ASN1_TIME* t) {
  std::tm tm{};
  REQUIRE(ASN1_TIME_to_tm(t, &tm) == 1);
  return absl::FromTimeT(timegm(&tm));
}

// A logger whose lines the test reads back.
struct CapturedLog {
  base::ManualClock clock;
  FILE* file = std::tmpfile();
  base::Logger logger{&clock, base::LogFormat::kText, base::LogLevel::kInfo, file};
  ~CapturedLog() { std::fclose(file); }
  std::string Text() {
    std::fflush(file);
    std::rewind(file);
    std::string out;
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof buf, file)) out.append(buf, n);
    return out;
  }
};

server::Config AutoTlsConfig(const std::string& data_dir) {
  server::Config cfg;
  cfg.name = "m1";
  cfg.data_dir = data_dir;
  cfg.listen_client_urls = {*server::ParseUrl("https://127.0.0.1:2379"),
                            *server::ParseUrl("https://member1.example:2379")};
  cfg.listen_peer_urls = {*server::ParseUrl("https://127.0.0.1:2380")};
  cfg.client_auto_tls = true;
  cfg.peer_auto_tls = true;
  return cfg;
}

// ApplyAutoTls on the certificate flags of `cfg`, as the member calls it.
absl::StatusOr<server::SecurityConfig> Apply(const server::Config& cfg, absl::Time now, base::Logger& logger) {
  server::SecurityConfig given;
  given.client = cfg.client_tls;
  given.peer = cfg.peer_tls;
  given.client_listen_urls = cfg.listen_client_urls;
  given.peer_listen_urls = cfg.listen_peer_urls;
  given.peer_allowed_cn = cfg.peer_allowed_cn;
  return server::ApplyAutoTls(cfg, given, now, logger);
}

}  // namespace

TEST_CASE("self-signed: a pair whose key matches, with the listen hosts and the validity asked for",
          "[autotls]") {
  server::SelfSignedOptions opts;
  opts.hosts = {"127.0.0.1:2379", "member1.example:2379", "[::1]:2379", "127.0.0.1:22379", "bare.example"};
  opts.validity_years = 3;
  auto pem = server::MakeSelfSigned(opts, kNow);
  REQUIRE(pem.ok());
  CHECK(pem->key_pem.rfind("-----BEGIN EC PRIVATE KEY-----", 0) == 0);
  TempDir tmp;
  WriteFile(tmp.Sub("cert.pem"), pem->cert_pem);
  WriteFile(tmp.Sub("key.pem"), pem->key_pem);
  CHECK(server::CheckKeyPair("--cert-file", tmp.Sub("cert.pem"), "--key-file", tmp.Sub("key.pem")).ok());

  server::X509Ptr cert = server::ParseCertificate(pem->cert_pem);
  REQUIRE(cert);
  // One SAN per host, IPs as IP SANs, duplicates dropped.
  CHECK(Sans(cert.get()) == std::vector<std::string>{"IP:127.0.0.1", "DNS:member1.example", "IP:::1",
                                                     "DNS:bare.example"});
  CHECK(AsTime(X509_get0_notBefore(cert.get())) == kNow);
  CHECK(AsTime(X509_get0_notAfter(cert.get())) == kNow + absl::Hours(24 * 365 * 3));
  // etcd's: ECDSA P-521, O=etcd as subject and issuer, not a CA, server auth.
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  REQUIRE(key != nullptr);
  CHECK(EVP_PKEY_base_id(key) == EVP_PKEY_EC);
  CHECK(EVP_PKEY_get_bits(key) == 521);
  char subject[128];
  X509_NAME_oneline(X509_get_subject_name(cert.get()), subject, sizeof subject);
  CHECK(std::string(subject) == "/O=etcd");
  CHECK(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0);
  CHECK(X509_verify(cert.get(), key) == 1);  // signed by its own key
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK((X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER) != 0);
  CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
  // Two pairs are two keys and two serials.
  auto other = server::MakeSelfSigned(opts, kNow);
  REQUIRE(other.ok());
  CHECK(other->key_pem != pem->key_pem);
  server::X509Ptr other_cert = server::ParseCertificate(other->cert_pem);
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(cert.get()), X509_get0_serialNumber(other_cert.get())) != 0);
}

TEST_CASE("self-signed: a validity of 0 years, or past year 9999, names the flag", "[autotls]") {
  server::SelfSignedOptions opts;
  opts.hosts = {"127.0.0.1:2379"};
  for (unsigned years : {0u, 9000u}) {
    opts.validity_years = years;
    auto pem = server::MakeSelfSigned(opts, kNow);
    REQUIRE_FALSE(pem.ok());
    CHECK(pem.status().message().find("--self-signed-cert-validity") != absl::string_view::npos);
  }
}

TEST_CASE("self-signed: written once, 0600 key in a 0700 dir, then found and reused", "[autotls]") {
  TempDir tmp;
  const std::string dir = tmp.Sub("data/fixtures/client");
  auto none = server::FindSelfSigned(dir, "--auto-tls");
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  CHECK_FALSE(std::filesystem::exists(tmp.Sub("data")));  // finding writes nothing

  server::SelfSignedOptions opts;
  opts.hosts = {"127.0.0.1:2379"};
  auto pem = server::MakeSelfSigned(opts, kNow);
  REQUIRE(pem.ok());
  auto written = server::WriteSelfSigned(dir, *pem);
  REQUIRE(written.ok());
  CHECK(written->cert_file == dir + "/cert.pem");
  CHECK(written->key_file == dir + "/key.pem");
  CHECK(ReadAll(written->cert_file) == pem->cert_pem);
  CHECK(Mode(written->key_file) == 0600);
  CHECK(Mode(dir) == 0700);
  CHECK(Mode(tmp.Sub("data/fixtures")) == 0700);  // and the dirs made on the way
  CHECK(std::distance(std::filesystem::directory_iterator(dir), {}) == 2);  // no temp files left

  auto found = server::FindSelfSigned(dir, "--auto-tls");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->cert_file == written->cert_file);

  SECTION("a key alone is no pair") {
    std::filesystem::remove(written->cert_file);
    auto alone = server::FindSelfSigned(dir, "--auto-tls");
    REQUIRE(alone.ok());
    CHECK_FALSE(alone->has_value());
  }
  SECTION("a key that does not match its certificate stops the member, naming the file") {
    auto other = server::MakeSelfSigned(opts, kNow);
    REQUIRE(other.ok());
    WriteFile(written->key_file, other->key_pem);
    auto broken = server::FindSelfSigned(dir, "--auto-tls");
    REQUIRE_FALSE(broken.ok());
    CHECK(broken.status().message().find("--auto-tls key " + written->key_file) != absl::string_view::npos);
  }
}

TEST_CASE("auto tls: the member's pairs go to <data-dir>/fixtures and are reused on restart", "[autotls]") {
  TempDir tmp;
  CapturedLog log;
  server::Config cfg = AutoTlsConfig(tmp.Sub("data"));
  cfg.self_signed_cert_validity = 2;
  cfg.peer_tls.client_cert_auth = true;  // dropped, as etcd drops it
  cfg.peer_allowed_cn = "member";
  auto sc = Apply(cfg, kNow, log.logger);
  REQUIRE(sc.ok());
  const std::string client_dir = storage::MemberDir::ClientFixturesDir(cfg.data_dir);
  const std::string peer_dir = storage::MemberDir::PeerFixturesDir(cfg.data_dir);
  CHECK(client_dir == tmp.Sub("data/fixtures/client"));
  CHECK(peer_dir == tmp.Sub("data/fixtures/peer"));
  CHECK(sc->client.cert_file == client_dir + "/cert.pem");
  CHECK(sc->client.key_file == client_dir + "/key.pem");
  CHECK(sc->peer.cert_file == peer_dir + "/cert.pem");
  CHECK(sc->client.self_signed);
  CHECK(sc->peer.self_signed);
  CHECK_FALSE(sc->peer.client_cert_auth);
  CHECK(sc->peer_allowed_cn.empty());
  CHECK(log.Text().find("--peer-client-cert-auth, --peer-cert-allowed-cn") != std::string::npos);
  server::X509Ptr cert = server::ParseCertificate(ReadAll(sc->client.cert_file));
  REQUIRE(cert);
  CHECK(Sans(cert.get()) == std::vector<std::string>{"IP:127.0.0.1", "DNS:member1.example"});
  CHECK(AsTime(X509_get0_notAfter(cert.get())) == kNow + absl::Hours(24 * 365 * 2));
  // The files serve: TransportSecurity takes them, and dials peers.
  auto security = server::TransportSecurity::Create(*sc);
  REQUIRE(security.ok());
  CHECK((*security)->ClientListener(cfg.listen_client_urls[0]).ok());
  auto channel = (*security)->PeerChannel(cfg.listen_peer_urls[0]);
  REQUIRE(channel.ok());
  CHECK(*channel != nullptr);

  // A restart reuses both pairs, whatever the flags now say about hosts.
  const std::string client_pem = ReadAll(sc->client.cert_file);
  const std::string peer_pem = ReadAll(sc->peer.cert_file);
  cfg.listen_client_urls = {*server::ParseUrl("https://127.0.0.2:2379")};
  auto again = Apply(cfg, kNow + absl::Hours(1), log.logger);
  REQUIRE(again.ok());
  CHECK(ReadAll(again->client.cert_file) == client_pem);
  CHECK(ReadAll(again->peer.cert_file) == peer_pem);
}

TEST_CASE("auto tls: certificate files given win, with a warning, and nothing is made", "[autotls]") {
  TempDir tmp;
  CapturedLog log;
  server::SelfSignedOptions opts;
  opts.hosts = {"127.0.0.1:2379"};
  auto pem = server::MakeSelfSigned(opts, kNow);
  REQUIRE(pem.ok());
  auto given = server::WriteSelfSigned(tmp.Sub("given"), *pem);
  REQUIRE(given.ok());
  server::Config cfg = AutoTlsConfig(tmp.Sub("data"));
  cfg.client_tls.cert_file = given->cert_file;
  cfg.client_tls.key_file = given->key_file;
  cfg.peer_auto_tls = false;
  cfg.listen_peer_urls = {*server::ParseUrl("http://127.0.0.1:2380")};
  auto sc = Apply(cfg, kNow, log.logger);
  REQUIRE(sc.ok());
  CHECK(sc->client.cert_file == given->cert_file);
  CHECK_FALSE(sc->client.self_signed);
  CHECK(log.Text().find("ignoring --auto-tls since client certificate files are given") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(tmp.Sub("data")));
}

TEST_CASE("auto tls: a bad configuration writes nothing", "[autotls]") {
  TempDir tmp;
  CapturedLog log;
  server::Config cfg = AutoTlsConfig(tmp.Sub("data"));
  SECTION("a missing peer certificate next to --auto-tls") {
    cfg.peer_auto_tls = false;
    cfg.peer_tls.cert_file = tmp.Sub("missing.crt");
    cfg.peer_tls.key_file = tmp.Sub("missing.key");
    auto sc = Apply(cfg, kNow, log.logger);
    REQUIRE_FALSE(sc.ok());
    CHECK(sc.status().message().find("--peer-cert-file") != absl::string_view::npos);
    CHECK_FALSE(std::filesystem::exists(tmp.Sub("data")));
  }
  SECTION("a validity of 0") {
    cfg.self_signed_cert_validity = 0;
    auto sc = Apply(cfg, kNow, log.logger);
    REQUIRE_FALSE(sc.ok());
    CHECK(sc.status().message().find("--self-signed-cert-validity") != absl::string_view::npos);
    CHECK_FALSE(std::filesystem::exists(tmp.Sub("data")));
  }
  SECTION("a damaged peer pair on disk: the client pair is not made either") {
    const std::string peer_dir = storage::MemberDir::PeerFixturesDir(cfg.data_dir);
    std::filesystem::create_directories(peer_dir);
    WriteFile(peer_dir + "/cert.pem", "not a certificate\n");
    WriteFile(peer_dir + "/key.pem", "not a key\n");
    auto sc = Apply(cfg, kNow, log.logger);
    REQUIRE_FALSE(sc.ok());
    CHECK(sc.status().message().find(peer_dir + "/cert.pem") != absl::string_view::npos);
    CHECK_FALSE(std::filesystem::exists(storage::MemberDir::ClientFixturesDir(cfg.data_dir)));
  }
}

namespace {

std::variant<server::Config, server::ConfigExit> ParseWith(std::vector<std::string> args,
                                                           std::map<std::string, std::string> env) {
  return server::ParseConfig(args, [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

}  // namespace

TEST_CASE("config: --auto-tls, --peer-auto-tls, --self-signed-cert-validity and their variables",
          "[autotls][config]") {
  auto defaults = ParseWith({}, {});
  REQUIRE(std::holds_alternative<server::Config>(defaults));
  CHECK_FALSE(std::get<server::Config>(defaults).client_auto_tls);
  CHECK_FALSE(std::get<server::Config>(defaults).peer_auto_tls);
  CHECK(std::get<server::Config>(defaults).self_signed_cert_validity == 1);

  auto flags = ParseWith({"--auto-tls", "-peer-auto-tls", "--self-signed-cert-validity=3"}, {});
  REQUIRE(std::holds_alternative<server::Config>(flags));
  CHECK(std::get<server::Config>(flags).client_auto_tls);
  CHECK(std::get<server::Config>(flags).peer_auto_tls);
  CHECK(std::get<server::Config>(flags).self_signed_cert_validity == 3);

  auto env = ParseWith({"--self-signed-cert-validity", "4"},
                       {{"ETCD_AUTO_TLS", "true"}, {"ETCD_PEER_AUTO_TLS", "true"}});
  REQUIRE(std::holds_alternative<server::Config>(env));
  CHECK(std::get<server::Config>(env).client_auto_tls);
  CHECK(std::get<server::Config>(env).peer_auto_tls);
  CHECK(std::get<server::Config>(env).self_signed_cert_validity == 4);
  // The flag and its variable together are refused, as etcd refuses them.
  auto both = ParseWith({"--self-signed-cert-validity", "4"}, {{"ETCD_SELF_SIGNED_CERT_VALIDITY", "2"}});
  REQUIRE(std::holds_alternative<server::ConfigExit>(both));
  CHECK(std::get<server::ConfigExit>(both).code == 1);
  auto off = ParseWith({}, {{"ETCD_AUTO_TLS", "false"}, {"ETCD_SELF_SIGNED_CERT_VALIDITY", "2"}});
  REQUIRE(std::holds_alternative<server::Config>(off));
  CHECK_FALSE(std::get<server::Config>(off).client_auto_tls);
  CHECK(std::get<server::Config>(off).self_signed_cert_validity == 2);

  for (const char* bad : {"-1", "year"}) {
    auto p = ParseWith({"--self-signed-cert-validity", bad}, {});
    REQUIRE(std::holds_alternative<server::ConfigExit>(p));
    CHECK(std::get<server::ConfigExit>(p).code == 2);
  }
  auto help = ParseWith({"--help"}, {});
  REQUIRE(std::holds_alternative<server::ConfigExit>(help));
  for (const char* name : {"--auto-tls", "ETCD_PEER_AUTO_TLS", "ETCD_SELF_SIGNED_CERT_VALIDITY"}) {
    CHECK(std::get<server::ConfigExit>(help).out.find(name) != std::string::npos);
  }
}

}  // namespace ketcd_test
