#include "server/state/alarms.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "storage/meta_schema.h"

namespace server {

std::string AlarmText(const etcdserverpb::AlarmMember& m) {
  // Zero fields are left out, as gogo's compact text leaves them out.
  std::string out;
  if (m.memberid() != 0) absl::StrAppend(&out, "memberID:", m.memberid(), " ");
  if (m.alarm() != etcdserverpb::NONE) absl::StrAppend(&out, "alarm:", etcdserverpb::AlarmType_Name(m.alarm()), " ");
  return out;
}

void AlarmStore::Reload(const storage::MvccStore& store) {
  std::map<Key, etcdserverpb::AlarmMember> loaded;
  for (const auto& [key, value] : store.ListMeta(storage::kAlarmMetaPrefix)) {
    auto decoded = storage::DecodeAlarmMetaKey(key);
    if (!decoded) continue;  // not a key this build writes
    etcdserverpb::AlarmMember m;
    m.set_memberid(decoded->member_id);
    m.set_alarm(static_cast<etcdserverpb::AlarmType>(decoded->alarm_type));
    loaded[{decoded->alarm_type, decoded->member_id}] = m;
  }
  std::lock_guard<std::mutex> lock(mu_);
  active_ = std::move(loaded);
  PublishTypes();
}

void AlarmStore::PublishTypes() {
  uint32_t types = 0;
  for (const auto& [key, m] : active_) {
    if (key.first >= 0 && key.first < 32) types |= 1u << key.first;
  }
  active_types_.store(types, std::memory_order_release);
}

absl::StatusOr<etcdserverpb::AlarmResponse> AlarmStore::Apply(storage::WriteBatch& batch,
                                                              const etcdserverpb::AlarmRequest& r) {
  etcdserverpb::AlarmResponse resp;
  if (r.action() == etcdserverpb::AlarmRequest::GET) {
    for (auto& m : Get(r.alarm())) *resp.add_alarms() = std::move(m);
    return resp;
  }
  const Key key{static_cast<int>(r.alarm()), r.memberid()};
  const std::string meta_key = storage::AlarmMetaKey(r.memberid(), static_cast<int>(r.alarm()));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(key);
  if (r.action() == etcdserverpb::AlarmRequest::ACTIVATE) {
    if (it != active_.end()) {
      *resp.add_alarms() = it->second;
      return resp;
    }
    if (auto s = batch.PutMeta(meta_key, ""); !s.ok()) return absl::InternalError(s.message());
    etcdserverpb::AlarmMember m;
    m.set_memberid(r.memberid());
    m.set_alarm(r.alarm());
    active_[key] = m;
    PublishTypes();
    *resp.add_alarms() = m;
    if (logger_ != nullptr) {
      logger_->Warn("alarm raised", {{"alarm", etcdserverpb::AlarmType_Name(r.alarm())},
                                     base::HexId("from", r.memberid())});
    }
    return resp;
  }
  if (r.action() == etcdserverpb::AlarmRequest::DEACTIVATE) {
    if (it == active_.end()) return resp;
    if (auto s = batch.DeleteMeta(meta_key); !s.ok()) return absl::InternalError(s.message());
    *resp.add_alarms() = it->second;
    active_.erase(it);
    PublishTypes();
    if (logger_ != nullptr) {
      logger_->Warn("alarm disarmed", {{"alarm", etcdserverpb::AlarmType_Name(r.alarm())},
                                       base::HexId("from", r.memberid())});
    }
    return resp;
  }
  // An action etcd does not know: etcd answers an empty response.
  return resp;
}

std::vector<etcdserverpb::AlarmMember> AlarmStore::Get(etcdserverpb::AlarmType type) const {
  std::vector<etcdserverpb::AlarmMember> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, m] : active_) {
    if (type == etcdserverpb::NONE || key.first == static_cast<int>(type)) out.push_back(m);
  }
  return out;
}

bool AlarmStore::Active(etcdserverpb::AlarmType type) const {
  const int t = static_cast<int>(type);
  return t >= 0 && t < 32 && (active_types_.load(std::memory_order_acquire) & (1u << t)) != 0;
}

}  // namespace server
