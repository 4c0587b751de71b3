// backup_test_tool: the storage/ backup library behind a command line, for
// the interop tests with Debian's etcd (etcd_backup_interop.py).
//
//   backup_test_tool write-backup OUT < SPEC   encode a backup; print its status
//   backup_test_tool dump FILE [--skip-hash-check]
//                                               decode a backup; print facts,
//                                               status and every revision
//   backup_test_tool reencode IN OUT           decode IN, encode its facts and
//                                               revisions into OUT; print OUT's status
//   backup_test_tool random-bbolt OUT SEED     a random bbolt database (nested
//                                               buckets and all); print the
//                                               status etcdctl should report
// SPEC lines (hex for bytes):
//   put MAIN SUB KEY VALUE CREATE VERSION LEASE | del MAIN SUB KEY
//   compact REV | index N | lease ID TTL REMAINING | cluster VERSION
//   member ID(hex) NAME PEER_URL CLIENT_URL
// Output is one JSON object on stdout; errors go to stderr with exit code 1.
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "bbolt_model.h"
#include "storage/etcd_backup.h"

using namespace storage;

namespace {

std::string Hex(std::string_view s) { return absl::BytesToHexString(std::string(s)); }
std::string Unhex(const std::string& s) { return absl::HexStringToBytes(s); }

std::string StatusJson(const BackupStatus& st) {
  return absl::StrCat("{\"hash\":", st.hash, ",\"revision\":", st.revision,
                      ",\"totalKey\":", st.total_keys, ",\"totalSize\":", st.total_size, "}");
}

int Fail(const absl::Status& s) {
  std::cerr << s << "\n";
  return 1;
}

absl::Status ParseSpecLine(const std::string& line, BackupFacts* f, std::vector<BackupRevision>* revs) {
  std::istringstream in(line);
  std::string op;
  in >> op;
  if (op == "put" || op == "del") {
    BackupRevision r;
    std::string key, value;
    in >> r.rev.main >> r.rev.sub >> key;
    r.kv.set_key(Unhex(key));
    r.tombstone = op == "del";
    if (!r.tombstone) {
      int64_t create, version, lease;
      in >> value >> create >> version >> lease;
      r.kv.set_value(Unhex(value == "-" ? "" : value));
      r.kv.set_create_revision(create);
      r.kv.set_mod_revision(r.rev.main);
      r.kv.set_version(version);
      r.kv.set_lease(lease);
    }
    revs->push_back(std::move(r));
  } else if (op == "compact") {
    in >> f->compact_rev;
  } else if (op == "index") {
    in >> f->consistent_index;
  } else if (op == "lease") {
    BackupLease l;
    in >> l.id >> l.ttl >> l.remaining_ttl;
    f->leases.push_back(l);
  } else if (op == "cluster") {
    in >> f->cluster_version;
  } else if (op == "member") {
    BackupMember m;
    std::string id, peer, client;
    in >> id >> m.name >> peer >> client;
    m.id = std::stoull(id, nullptr, 16);
    m.peer_urls = {peer};
    m.client_urls = {client};
    f->members.push_back(std::move(m));
  } else if (!op.empty()) {
    return absl::InvalidArgumentError("unknown spec line: " + line);
  }
  if (in.fail()) return absl::InvalidArgumentError("malformed spec line: " + line);
  return absl::OkStatus();
}

int WriteBackup(const std::string& out) {
  BackupFacts facts;
  std::vector<BackupRevision> revs;
  for (std::string line; std::getline(std::cin, line);) {
    if (absl::Status s = ParseSpecLine(line, &facts, &revs); !s.ok()) return Fail(s);
  }
  absl::StatusOr<BackupStatus> st = WriteBackupFile(out, facts, [&](const RevisionVisitor& visit) {
    for (const BackupRevision& r : revs) {
      if (absl::Status s = visit(r); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return Fail(st.status());
  std::cout << StatusJson(*st) << "\n";
  return 0;
}

std::string FactsJson(const BackupFacts& f) {
  std::string out = absl::StrCat("{\"consistentIndex\":", f.consistent_index,
                                 ",\"compactRev\":", f.compact_rev,
                                 ",\"scheduledCompactRev\":", f.scheduled_compact_rev,
                                 ",\"clusterVersion\":\"", Hex(f.cluster_version),
                                 "\",\"authEnabled\":", f.auth.enabled ? "true" : "false",
                                 ",\"authRevision\":", f.auth.revision,
                                 ",\"users\":", f.auth.users.size(), ",\"roles\":", f.auth.roles.size(),
                                 ",\"leases\":[");
  for (size_t i = 0; i < f.leases.size(); ++i) {
    const BackupLease& l = f.leases[i];
    absl::StrAppend(&out, i ? "," : "", "{\"id\":", l.id, ",\"ttl\":", l.ttl,
                    ",\"remainingTtl\":", l.remaining_ttl, "}");
  }
  out += "],\"members\":[";
  for (size_t i = 0; i < f.members.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", "\"", Hex(etcd_schema::EncodeMemberJson(f.members[i])), "\"");
  }
  return out + "]}";
}

int Dump(const std::string& path, bool skip_hash_check) {
  absl::StatusOr<std::unique_ptr<BackupReader>> r =
      BackupReader::Open(path, {.skip_hash_check = skip_hash_check});
  if (!r.ok()) return Fail(r.status());
  absl::StatusOr<BackupStatus> st = (*r)->Status();
  if (!st.ok()) return Fail(st.status());
  std::cout << "{\"facts\":" << FactsJson((*r)->facts()) << ",\"status\":" << StatusJson(*st)
            << ",\"check\":\"" << (*r)->db().Check().ToString() << "\",\"revisions\":[";
  bool first = true;
  absl::Status s = (*r)->ForEachRevision([&](const BackupRevision& rev) {
    const mvccpb::KeyValue& kv = rev.kv;
    std::cout << (first ? "" : ",") << "{\"main\":" << rev.rev.main << ",\"sub\":" << rev.rev.sub
              << ",\"tombstone\":" << (rev.tombstone ? "true" : "false") << ",\"key\":\""
              << Hex(kv.key()) << "\",\"value\":\"" << Hex(kv.value())
              << "\",\"create\":" << kv.create_revision() << ",\"mod\":" << kv.mod_revision()
              << ",\"version\":" << kv.version() << ",\"lease\":" << kv.lease() << "}";
    first = false;
    return absl::OkStatus();
  });
  if (!s.ok()) return Fail(s);
  std::cout << "]}\n";
  return 0;
}

int Reencode(const std::string& in, const std::string& out) {
  absl::StatusOr<std::unique_ptr<BackupReader>> r = BackupReader::Open(in);
  if (!r.ok()) return Fail(r.status());
  absl::StatusOr<BackupStatus> st = WriteBackupFile(
      out, (*r)->facts(), [&](const RevisionVisitor& visit) { return (*r)->ForEachRevision(visit); });
  if (!st.ok()) return Fail(st.status());
  std::cout << StatusJson(*st) << "\n";
  return 0;
}

int RandomBbolt(const std::string& out, uint64_t seed) {
  std::mt19937_64 rng(seed);
  ketcd_test::BucketModel db = ketcd_test::RandomDatabase(rng);
  absl::StatusOr<uint64_t> pages = ketcd_test::WriteDatabase(out, db);
  if (!pages.ok()) return Fail(pages.status());
  ketcd_test::ModelStatus st = ketcd_test::StatusOf(db);
  BackupStatus status{st.hash, 0, st.total_keys, static_cast<int64_t>(*pages * bbolt::kPageSize)};
  std::cout << StatusJson(status) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "write-backup") return WriteBackup(args[1]);
  if (args.size() >= 2 && args[0] == "dump") {
    return Dump(args[1], args.size() == 3 && args[2] == "--skip-hash-check");
  }
  if (args.size() == 3 && args[0] == "reencode") return Reencode(args[1], args[2]);
  if (args.size() == 3 && args[0] == "random-bbolt") return RandomBbolt(args[1], std::stoull(args[2]));
  std::cerr << "usage: backup_test_tool write-backup OUT < SPEC | dump FILE [--skip-hash-check]"
               " | reencode IN OUT | random-bbolt OUT SEED\n";
  return 2;
}
