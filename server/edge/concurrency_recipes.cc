#include "server/edge/concurrency_recipes.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace server {

std::string PrefixEnd(absl::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key from `prefix` on
}

std::string LeaseKey(absl::string_view prefix, int64_t lease) {
  if (lease < 0) {
    return absl::StrCat(prefix, "-", absl::StrFormat("%x", 0 - static_cast<uint64_t>(lease)));
  }
  return absl::StrCat(prefix, absl::StrFormat("%x", lease));
}

etcdserverpb::Compare CreateRevisionIs(const std::string& key, int64_t revision) {
  etcdserverpb::Compare c;
  c.set_key(key);
  c.set_target(etcdserverpb::Compare::CREATE);
  c.set_result(etcdserverpb::Compare::EQUAL);
  c.set_create_revision(revision);
  return c;
}

etcdserverpb::RequestOp PutOp(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::RequestOp op;
  auto* put = op.mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  return op;
}

etcdserverpb::RequestOp DeleteOp(const std::string& key) {
  etcdserverpb::RequestOp op;
  op.mutable_request_delete_range()->set_key(key);
  return op;
}

etcdserverpb::RequestOp RangeOp(etcdserverpb::RangeRequest range) {
  etcdserverpb::RequestOp op;
  *op.mutable_request_range() = std::move(range);
  return op;
}

etcdserverpb::RangeRequest KeyRange(const std::string& key) {
  etcdserverpb::RangeRequest r;
  r.set_key(key);
  return r;
}

namespace {

// clientv3's WithFirstCreate / WithLastCreate: the prefix sorted by create
// revision, one key.
etcdserverpb::RangeRequest ByCreate(const std::string& prefix,
                                    etcdserverpb::RangeRequest::SortOrder order) {
  etcdserverpb::RangeRequest r;
  r.set_key(prefix);
  r.set_range_end(PrefixEnd(prefix));
  r.set_sort_target(etcdserverpb::RangeRequest::CREATE);
  r.set_sort_order(order);
  r.set_limit(1);
  return r;
}

// One round of WaitDeletes at a time: the newest earlier key, then a watch
// for its deletion, then again.
class DeleteWaiter : public std::enable_shared_from_this<DeleteWaiter> {
 public:
  using Done = std::function<void(absl::StatusOr<etcdserverpb::ResponseHeader>)>;
  DeleteWaiter(SelfClient& client, CallScope* scope, std::string prefix, int64_t max_create_rev,
               Done done)
      : client_(client), scope_(scope), prefix_(std::move(prefix)),
        max_create_rev_(max_create_rev), done_(std::move(done)) {}

  void Round() {
    etcdserverpb::RangeRequest r = ByCreate(prefix_, etcdserverpb::RangeRequest::DESCEND);
    r.set_max_create_revision(max_create_rev_);
    client_.Range(scope_, std::move(r), [self = shared_from_this()](auto got) {
      if (!got.ok()) return self->done_(got.status());
      if (got->kvs_size() == 0) return self->done_(got->header());
      self->AwaitDelete(got->kvs(0).key(), got->header().revision());
    });
  }

 private:
  // Watches `key` from `revision` (the range's: a delete since is seen).
  void AwaitDelete(const std::string& key, int64_t revision) {
    etcdserverpb::WatchCreateRequest create;
    create.set_key(key);
    create.set_start_revision(revision);
    client_.Watch(
        scope_, std::move(create),
        [](SelfWatch& w, const etcdserverpb::WatchResponse& resp) {
          for (const auto& ev : resp.events()) {
            if (ev.type() == mvccpb::Event::DELETE) return w.Stop();
          }
          w.Next();
        },
        [self = shared_from_this()](absl::Status s) {
          if (s.ok()) return self->Round();  // Stop(): the key was deleted
          if (absl::IsAborted(s)) s = absl::UnknownError("lost watcher waiting for delete");
          self->done_(std::move(s));
        });
  }

  SelfClient& client_;
  CallScope* const scope_;
  const std::string prefix_;
  const int64_t max_create_rev_;
  const Done done_;
};

}  // namespace

etcdserverpb::RangeRequest FirstCreated(const std::string& prefix) {
  return ByCreate(prefix, etcdserverpb::RangeRequest::ASCEND);
}

grpc::Status RecipeError(const absl::Status& s) {
  return grpc::Status(grpc::StatusCode::UNKNOWN, std::string(s.message()));
}

void SessionLease(SelfClient& client, CallScope* scope, int64_t lease,
                  std::function<void(absl::StatusOr<int64_t>)> done) {
  if (lease != 0) return done(lease);
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(kSessionTtlSeconds);
  client.LeaseGrant(scope, std::move(grant),
                    [done = std::move(done)](absl::StatusOr<etcdserverpb::LeaseGrantResponse> got) {
                      if (!got.ok()) return done(got.status());
                      done(got->id());
                    });
}

void WaitDeletes(SelfClient& client, CallScope* scope, std::string prefix, int64_t max_create_rev,
                 std::function<void(absl::StatusOr<etcdserverpb::ResponseHeader>)> done) {
  std::make_shared<DeleteWaiter>(client, scope, std::move(prefix), max_create_rev, std::move(done))
      ->Round();
}

}  // namespace server
