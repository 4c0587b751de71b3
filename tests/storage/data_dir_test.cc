// A data dir made and reopened through storage/ alone, as a restore or
// inspect tool would: layout and lock, identity in the store's meta table,
// and a raft log holding the founding members' bootstrap.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "raftpb/raft.pb.h"
#include "storage/identity.h"
#include "storage/member_dir.h"
#include "storage/meta_schema.h"
#include "storage/mvcc_store.h"
#include "storage/wal.h"
#include "storage/wal_bootstrap.h"
#include "tests/common/temp_dir.h"

namespace {

std::vector<serverpb::MemberAttributes> ThreeFounders() {
  std::vector<serverpb::MemberAttributes> out;
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    out.push_back(storage::FoundingMember("infra" + n, {"http://127.0.0.1:238" + n}, "tok"));
  }
  return out;
}

}  // namespace

TEST_CASE("a data dir is created and reopened with storage/ alone", "[data_dir]") {
  ketcd_test::TempDir tmp;
  const std::string data_dir = tmp.Sub("infra2");
  const auto founders = ThreeFounders();
  const storage::MemberIdentity fresh = storage::FoundingIdentity(founders, "infra2");
  REQUIRE(fresh.member_id == founders[1].member_id());
  REQUIRE(fresh.cluster_id == storage::ComputeClusterId(
                                  {founders[0].member_id(), founders[1].member_id(),
                                   founders[2].member_id()}));
  {
    auto dir = storage::MemberDir::Create(data_dir);
    REQUIRE(dir.ok());
    auto store = storage::MvccStore::Open((*dir)->db());
    REQUIRE(store.ok());
    auto id = storage::LoadOrCreateIdentity(**store, fresh);
    REQUIRE(id.ok());
    CHECK(id->member_id == fresh.member_id);
    CHECK(*(*store)->GetMeta(storage::kMetaMemberId) == storage::EncodeMetaId(fresh.member_id));
    auto wal = storage::CreateBootstrappedWal((*dir)->wal(), {fresh.cluster_id, fresh.member_id},
                                              founders, storage::WalOptions{});
    REQUIRE(wal.ok());
    CHECK(wal->state.entries.size() == 3);
    CHECK((*dir)->HasWal());
    // A second bootstrap of the same dir is refused, never a second log.
    CHECK_FALSE(storage::CreateBootstrappedWal((*dir)->wal(), {fresh.cluster_id, fresh.member_id},
                                               founders, storage::WalOptions{})
                    .ok());
  }

  auto dir = storage::MemberDir::Open(data_dir);
  REQUIRE(dir.ok());
  REQUIRE((*dir)->HasWal());
  auto store = storage::MvccStore::Open((*dir)->db());
  REQUIRE(store.ok());
  auto recorded = storage::LoadIdentity(**store);
  REQUIRE(recorded.ok());
  REQUIRE(recorded->has_value());
  CHECK((*recorded)->cluster_id == fresh.cluster_id);
  CHECK((*recorded)->member_id == fresh.member_id);
  // The recorded identity wins over other bootstrap flags.
  auto again = storage::LoadOrCreateIdentity(**store, storage::MemberIdentity{1, 2});
  REQUIRE(again.ok());
  CHECK(again->member_id == fresh.member_id);

  auto opened = storage::Wal::Open((*dir)->wal(), storage::WalOptions{});
  REQUIRE(opened.ok());
  const storage::WalRecovered& st = opened->state;
  CHECK(st.metadata.cluster_id == fresh.cluster_id);
  CHECK(st.metadata.member_id == fresh.member_id);
  CHECK(st.hard_state.commit() == 3);
  CHECK(st.hard_state.term() == 1);
  REQUIRE(st.entries.size() == 3);
  for (size_t i = 0; i < st.entries.size(); ++i) {
    CHECK(st.entries[i].type() == raftpb::ENTRY_CONF_CHANGE);
    raftpb::ConfChange cc;
    REQUIRE(cc.ParseFromString(st.entries[i].data()));
    auto m = storage::DecodeConfChangeContext(cc.node_id(), cc.context());
    bool founder = false;
    for (const auto& f : founders) founder |= f.SerializeAsString() == m.SerializeAsString();
    CHECK(founder);
  }
}

TEST_CASE("an identity recorded by half is reported, not replaced", "[data_dir]") {
  ketcd_test::TempDir tmp;
  auto store = storage::MvccStore::Open(tmp.Sub("db"));
  REQUIRE(store.ok());
  REQUIRE((*store)->PutMeta(storage::kMetaClusterId, "abc").ok());
  auto id = storage::LoadIdentity(**store);
  CHECK(absl::IsDataLoss(id.status()));
  REQUIRE((*store)->PutMeta(storage::kMetaMemberId, "zz").ok());
  CHECK(absl::IsDataLoss(storage::LoadIdentity(**store).status()));
}
