#include "storage/identity.h"

#include <algorithm>

#include <openssl/sha.h>

#include "storage/meta_schema.h"

namespace storage {
namespace {

uint64_t First8BigEndian(const std::string& data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | digest[i];
  return v;
}

}  // namespace

uint64_t ComputeMemberId(std::vector<std::string> peer_urls, const std::string& cluster_token) {
  std::sort(peer_urls.begin(), peer_urls.end());
  std::string data;
  for (const auto& u : peer_urls) data += u;
  data += cluster_token;
  return First8BigEndian(data);
}

uint64_t ComputeClusterId(std::vector<uint64_t> member_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  std::string data;
  for (uint64_t id : member_ids) {
    for (int shift = 56; shift >= 0; shift -= 8) data.push_back(static_cast<char>((id >> shift) & 0xff));
  }
  return First8BigEndian(data);
}

serverpb::MemberAttributes FoundingMember(const std::string& name,
                                          const std::vector<std::string>& peer_urls,
                                          const std::string& cluster_token) {
  serverpb::MemberAttributes m;
  m.set_member_id(ComputeMemberId(peer_urls, cluster_token));
  m.set_name(name);
  for (const auto& u : peer_urls) m.add_peer_urls(u);
  return m;
}

MemberIdentity FoundingIdentity(const std::vector<serverpb::MemberAttributes>& founding,
                                std::string_view self_name) {
  MemberIdentity id;
  std::vector<uint64_t> ids;
  for (const auto& m : founding) {
    ids.push_back(m.member_id());
    if (m.name() == self_name) id.member_id = m.member_id();
  }
  id.cluster_id = ComputeClusterId(std::move(ids));
  return id;
}

absl::StatusOr<std::optional<MemberIdentity>> LoadIdentity(const MvccStore& store) {
  auto cid = store.GetMeta(kMetaClusterId);
  if (absl::IsNotFound(cid.status())) return std::nullopt;
  if (!cid.ok()) return cid.status();
  auto mid = store.GetMeta(kMetaMemberId);
  if (absl::IsNotFound(mid.status())) {
    return absl::DataLossError("member identity in the data dir is incomplete");
  }
  if (!mid.ok()) return mid.status();
  auto cluster_id = DecodeMetaId(*cid);
  auto member_id = DecodeMetaId(*mid);
  if (!cluster_id || !member_id) {
    return absl::DataLossError("member identity in the data dir is unreadable");
  }
  return MemberIdentity{*cluster_id, *member_id};
}

absl::Status SaveIdentity(MvccStore& store, const MemberIdentity& identity) {
  if (auto s = store.PutMeta(kMetaMemberId, EncodeMetaId(identity.member_id)); !s.ok()) return s;
  return store.PutMeta(kMetaClusterId, EncodeMetaId(identity.cluster_id));
}

absl::StatusOr<MemberIdentity> LoadOrCreateIdentity(MvccStore& store, const MemberIdentity& fresh) {
  auto recorded = LoadIdentity(store);
  if (!recorded.ok()) return recorded.status();
  // A member restarted on its data dir keeps its identity and ignores the
  // bootstrap flags, as etcd does.
  if (*recorded) return **recorded;
  if (auto s = SaveIdentity(store, fresh); !s.ok()) return s;
  return fresh;
}

}  // namespace storage
