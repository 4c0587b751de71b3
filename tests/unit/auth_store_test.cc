// The auth store (server/state/auth_*): etcd's permission lookup by key,
// range and prefix over the union of a user's roles; root's bypass and the
// refusals that protect root; the auth revision (bumped by every change,
// not by AuthEnable or a repeated grant) and the check of a request's
// revision; the state surviving a reload from the store; the auth
// decorator refusing a write at apply time with nothing written, trusting
// the member's own (headerless) entries; bcrypt and simple tokens.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "base/clock.h"
#include "base/errors.h"
#include "server/state/auth_applier.h"
#include "server/state/auth_store.h"
#include "server/state/kv_applier.h"
#include "server/state/password.h"
#include "server/state/simple_tokens.h"
#include "tests/common/temp_dir.h"
#include "tests/unit/store_util.h"

namespace ketcd_test {
namespace {

using base::ErrorKind;
using server::AuthInfo;
using server::PermAccess;

authpb::Permission Perm(authpb::Permission::Type t, std::string key, std::string end = "") {
  authpb::Permission p;
  p.set_permtype(t);
  p.set_key(std::move(key));
  p.set_range_end(std::move(end));
  return p;
}

struct AuthFixture {
  TempDir tmp;
  std::unique_ptr<storage::MvccStore> store = OpenStore(tmp.Sub("db"));
  base::ManualClock clock{absl::FromUnixSeconds(1000000)};
  server::AuthStore auth{store.get(), &clock, {absl::Seconds(300)}};
  server::KvApplier core{[](int64_t) { return false; }};
  server::AuthApplier applier{&core, &auth};
  uint64_t index = 0;

  // Applies one request through the applier chain in its own batch.
  absl::StatusOr<serverpb::InternalResponse> Apply(serverpb::InternalRequest req) {
    auto batch = store->Write();
    req.set_id(++index);
    auto got = applier.ApplyEntry(*batch, req);
    REQUIRE(batch->Commit(index, false).ok());
    return got;
  }
  absl::Status Must(serverpb::InternalRequest req) { return Apply(std::move(req)).status(); }

  static serverpb::InternalRequest UserAdd(const std::string& name) {
    serverpb::InternalRequest r;
    r.mutable_user_add()->set_name(name);
    r.mutable_user_add()->set_hashedpassword(*server::HashPassword("pw-" + name, 4));
    return r;
  }
  static serverpb::InternalRequest RoleAdd(const std::string& name) {
    serverpb::InternalRequest r;
    r.mutable_role_add()->set_name(name);
    return r;
  }
  static serverpb::InternalRequest Grant(const std::string& user, const std::string& role) {
    serverpb::InternalRequest r;
    r.mutable_user_grant_role()->set_user(user);
    r.mutable_user_grant_role()->set_role(role);
    return r;
  }
  static serverpb::InternalRequest GrantPerm(const std::string& role, authpb::Permission p) {
    serverpb::InternalRequest r;
    r.mutable_role_grant_permission()->set_name(role);
    *r.mutable_role_grant_permission()->mutable_perm() = std::move(p);
    return r;
  }
  static serverpb::InternalRequest Enable() {
    serverpb::InternalRequest r;
    r.mutable_auth_enable();
    return r;
  }
  // As `who` at the current auth revision.
  serverpb::InternalRequest As(serverpb::InternalRequest r, const std::string& who) {
    r.mutable_auth()->set_username(who);
    r.mutable_auth()->set_auth_revision(auth.Revision());
    return r;
  }
  static serverpb::InternalRequest Put(const std::string& key) {
    serverpb::InternalRequest r;
    r.mutable_put()->set_key(key);
    r.mutable_put()->set_value("v");
    return r;
  }
  // root (root role) and alice (role "app": read /app/ prefix, readwrite
  // [/app/a, /app/c), write key /w), auth on.
  void Setup() {
    REQUIRE(Must(UserAdd("root")).ok());
    REQUIRE(Must(Grant("root", "root")).ok());
    REQUIRE(Must(UserAdd("alice")).ok());
    REQUIRE(Must(RoleAdd("app")).ok());
    REQUIRE(Must(GrantPerm("app", Perm(authpb::Permission::READ, "/app/", "/app0"))).ok());
    REQUIRE(Must(GrantPerm("app", Perm(authpb::Permission::READWRITE, "/app/a", "/app/c"))).ok());
    REQUIRE(Must(GrantPerm("app", Perm(authpb::Permission::WRITE, "/w"))).ok());
    REQUIRE(Must(Grant("alice", "app")).ok());
    REQUIRE(Must(Enable()).ok());
  }
};

ErrorKind KindOf(const absl::Status& s) { return base::KindOf(s); }

TEST_CASE("auth: permissions by key, range and prefix", "[auth]") {
  AuthFixture f;
  f.Setup();
  auto st = f.auth.State();
  const AuthInfo alice{"alice", st->revision};
  auto ok = [&](std::string k, std::string e, PermAccess a) {
    return server::CheckPermitted(*st, alice, k, e, a).ok();
  };
  // Prefix /app/ readable, as a whole and key by key.
  CHECK(ok("/app/", "/app0", PermAccess::kRead));
  CHECK(ok("/app/x", "", PermAccess::kRead));
  CHECK(ok("/app/b", "/app/z", PermAccess::kRead));
  CHECK_FALSE(ok("/app/", "/app1", PermAccess::kRead));   // past the prefix
  CHECK_FALSE(ok("/ap", "/app0", PermAccess::kRead));     // before it
  CHECK_FALSE(ok("/app/", std::string(1, '\0'), PermAccess::kRead));  // from key: unbounded
  // Writes only in [/app/a, /app/c) and on the key /w.
  CHECK(ok("/app/a", "", PermAccess::kWrite));
  CHECK(ok("/app/b", "/app/c", PermAccess::kWrite));
  CHECK_FALSE(ok("/app/c", "", PermAccess::kWrite));
  CHECK_FALSE(ok("/app/a", "/app/d", PermAccess::kWrite));
  CHECK(ok("/w", "", PermAccess::kWrite));
  CHECK_FALSE(ok("/w", "", PermAccess::kRead));
  CHECK_FALSE(ok("/w0", "", PermAccess::kWrite));
  CHECK_FALSE(ok("/w", "/x", PermAccess::kWrite));  // a range is not the single key
  // Root passes everywhere; nobody and strangers do not.
  CHECK(server::CheckPermitted(*st, {"root", st->revision}, "/z", std::string(1, '\0'), PermAccess::kWrite).ok());
  CHECK(KindOf(server::CheckPermitted(*st, {"", 0}, "/app/x", "", PermAccess::kRead)) == ErrorKind::kUserEmpty);
  CHECK(KindOf(server::CheckPermitted(*st, {"bob", st->revision}, "/app/x", "", PermAccess::kRead)) ==
        ErrorKind::kPermissionDenied);
}

TEST_CASE("auth: adjacent grants join, a gap does not; from-key grants", "[auth]") {
  server::AuthState st;
  st.enabled = true;
  authpb::User u;
  u.set_name("u");
  u.add_roles("r");
  st.users["u"] = u;
  authpb::Role r;
  r.set_name("r");
  *r.add_keypermission() = Perm(authpb::Permission::READ, "a", "c");
  *r.add_keypermission() = Perm(authpb::Permission::READ, "c", "e");
  *r.add_keypermission() = Perm(authpb::Permission::READ, "f", "h");
  *r.add_keypermission() = Perm(authpb::Permission::WRITE, "m", std::string(1, '\0'));
  st.roles["r"] = r;
  CHECK(st.RangePermitted("u", "a", "e", PermAccess::kRead));
  CHECK(st.RangePermitted("u", "b", "d", PermAccess::kRead));
  CHECK_FALSE(st.RangePermitted("u", "a", "g", PermAccess::kRead));  // e..f is missing
  CHECK(st.RangePermitted("u", "f", "h", PermAccess::kRead));
  CHECK(st.RangePermitted("u", "m", std::string(1, '\0'), PermAccess::kWrite));
  CHECK(st.RangePermitted("u", "zzz", "", PermAccess::kWrite));
  CHECK_FALSE(st.RangePermitted("u", "l", std::string(1, '\0'), PermAccess::kWrite));
  CHECK_FALSE(st.RangePermitted("u", "m", "", PermAccess::kRead));
}

TEST_CASE("auth: revision bumps and the stale-revision check", "[auth]") {
  AuthFixture f;
  CHECK(f.auth.Revision() == 1);
  REQUIRE(f.Must(AuthFixture::UserAdd("root")).ok());
  CHECK(f.auth.Revision() == 2);
  REQUIRE(f.Must(AuthFixture::Grant("root", "root")).ok());
  CHECK(f.auth.Revision() == 3);
  REQUIRE(f.Must(AuthFixture::Grant("root", "root")).ok());  // already granted: no change
  CHECK(f.auth.Revision() == 3);
  REQUIRE(f.Must(AuthFixture::Enable()).ok());
  CHECK(f.auth.Revision() == 3);  // etcd: enabling does not bump
  REQUIRE(f.Must(f.As(AuthFixture::RoleAdd("r"), "root")).ok());
  CHECK(f.auth.Revision() == 4);
  // A request resolved at revision 3 is now stale.
  auto put = AuthFixture::Put("k");
  put.mutable_auth()->set_username("root");
  put.mutable_auth()->set_auth_revision(3);
  CHECK(KindOf(f.Apply(put).status()) == ErrorKind::kAuthOldRevision);
  serverpb::InternalRequest disable;
  disable.mutable_auth_disable();
  REQUIRE(f.Must(f.As(disable, "root")).ok());
  CHECK(f.auth.Revision() == 5);
  CHECK_FALSE(f.auth.Enabled());
}

TEST_CASE("auth: root rules", "[auth]") {
  AuthFixture f;
  CHECK(KindOf(f.Must(AuthFixture::Enable())) == ErrorKind::kRootUserNotExist);
  REQUIRE(f.Must(AuthFixture::UserAdd("root")).ok());
  CHECK(KindOf(f.Must(AuthFixture::Enable())) == ErrorKind::kRootRoleNotExist);
  // The root role need not exist as a record to be granted.
  REQUIRE(f.Must(AuthFixture::Grant("root", "root")).ok());
  REQUIRE(f.Must(AuthFixture::Enable()).ok());
  serverpb::InternalRequest del;
  del.mutable_user_delete()->set_name("root");
  CHECK(KindOf(f.Must(f.As(del, "root"))) == ErrorKind::kInvalidAuthMgmt);
  serverpb::InternalRequest revoke;
  revoke.mutable_user_revoke_role()->set_name("root");
  revoke.mutable_user_revoke_role()->set_role("root");
  CHECK(KindOf(f.Must(f.As(revoke, "root"))) == ErrorKind::kInvalidAuthMgmt);
  // Admin requests need root: nobody, an unknown user, a plain user.
  REQUIRE(f.Must(f.As(AuthFixture::UserAdd("bob"), "root")).ok());
  serverpb::InternalRequest nobody = AuthFixture::RoleAdd("x");
  nobody.mutable_auth();
  CHECK(KindOf(f.Must(nobody)) == ErrorKind::kUserEmpty);
  CHECK(KindOf(f.Must(f.As(AuthFixture::RoleAdd("x"), "carol"))) == ErrorKind::kUserNotFound);
  CHECK(KindOf(f.Must(f.As(AuthFixture::RoleAdd("x"), "bob"))) == ErrorKind::kPermissionDenied);
  // A user may read itself, not others.
  serverpb::InternalRequest get;
  get.mutable_user_get()->set_name("bob");
  CHECK(f.Apply(f.As(get, "bob")).ok());
  get.mutable_user_get()->set_name("root");
  CHECK(KindOf(f.Must(f.As(get, "bob"))) == ErrorKind::kPermissionDenied);
}

TEST_CASE("auth: writes refused at apply leave nothing; own entries are trusted", "[auth]") {
  AuthFixture f;
  f.Setup();
  const int64_t rev = f.store->Rev();
  CHECK(KindOf(f.Must(f.As(AuthFixture::Put("/app/z"), "alice"))) == ErrorKind::kPermissionDenied);
  CHECK(f.store->Rev() == rev);
  auto nobody = AuthFixture::Put("/app/a");
  nobody.mutable_auth();
  CHECK(KindOf(f.Must(nobody)) == ErrorKind::kUserEmpty);
  CHECK(f.Must(f.As(AuthFixture::Put("/app/a"), "alice")).ok());
  CHECK(f.store->Rev() == rev + 1);
  // prev_kv needs read too: /w is write-only.
  auto prev = AuthFixture::Put("/w");
  prev.mutable_put()->set_prev_kv(true);
  CHECK(KindOf(f.Must(f.As(prev, "alice"))) == ErrorKind::kPermissionDenied);
  // A txn whose failure branch writes outside the grant is refused whole.
  serverpb::InternalRequest txn;
  txn.mutable_txn()->add_success()->mutable_request_put()->set_key("/app/b");
  txn.mutable_txn()->add_failure()->mutable_request_put()->set_key("/other");
  CHECK(KindOf(f.Must(f.As(txn, "alice"))) == ErrorKind::kPermissionDenied);
  // Nested txns are checked as well.
  serverpb::InternalRequest nested;
  nested.mutable_txn()->add_success()->mutable_request_txn()->add_success()->mutable_request_put()->set_key("/x");
  CHECK(KindOf(f.Must(f.As(nested, "alice"))) == ErrorKind::kPermissionDenied);
  CHECK(f.store->Rev() == rev + 1);
  // An entry without an auth header comes from the member itself.
  CHECK(f.Must(AuthFixture::Put("/anything")).ok());
  CHECK(f.store->Rev() == rev + 2);
}

TEST_CASE("auth: the state survives a reload; role delete strips users", "[auth]") {
  AuthFixture f;
  f.Setup();
  serverpb::InternalRequest del;
  del.mutable_role_delete()->set_role("app");
  REQUIRE(f.Must(f.As(del, "root")).ok());
  server::AuthStore reloaded(f.store.get(), &f.clock, {});
  REQUIRE(reloaded.Reload().ok());
  auto a = f.auth.State();
  auto b = reloaded.State();
  CHECK(b->enabled);
  CHECK(b->revision == a->revision);
  REQUIRE(b->users.size() == 2);
  CHECK(b->users.at("alice").roles_size() == 0);
  CHECK(b->roles.empty());
  CHECK(b->users.at("root").SerializeAsString() == a->users.at("root").SerializeAsString());
}

TEST_CASE("auth: grant permission keeps key order and updates in place", "[auth]") {
  AuthFixture f;
  REQUIRE(f.Must(AuthFixture::RoleAdd("r")).ok());
  REQUIRE(f.Must(AuthFixture::GrantPerm("r", Perm(authpb::Permission::READ, "b"))).ok());
  REQUIRE(f.Must(AuthFixture::GrantPerm("r", Perm(authpb::Permission::READ, "a", "c"))).ok());
  REQUIRE(f.Must(AuthFixture::GrantPerm("r", Perm(authpb::Permission::WRITE, "b"))).ok());
  const auto& perms = f.auth.State()->roles.at("r").keypermission();
  REQUIRE(perms.size() == 2);
  CHECK(perms[0].key() == "a");
  CHECK(perms[1].key() == "b");
  CHECK(perms[1].permtype() == authpb::Permission::WRITE);
  serverpb::InternalRequest revoke;
  revoke.mutable_role_revoke_permission()->set_role("r");
  revoke.mutable_role_revoke_permission()->set_key("a");
  CHECK(KindOf(f.Must(revoke)) == ErrorKind::kPermissionNotGranted);  // range_end differs
  revoke.mutable_role_revoke_permission()->set_range_end("c");
  CHECK(f.Must(revoke).ok());
}

TEST_CASE("auth: bcrypt and simple tokens", "[auth]") {
  auto h = server::HashPassword("secret", 4);
  REQUIRE(h.ok());
  CHECK(h->rfind("$2b$04$", 0) == 0);
  CHECK(server::PasswordMatches("secret", *h));
  CHECK_FALSE(server::PasswordMatches("secreT", *h));
  CHECK_FALSE(server::PasswordMatches("secret", ""));
  // "$2a$" hashes (Go's bcrypt, so etcd's): the OpenBSD test vector.
  CHECK(server::PasswordMatches("U*U", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));
  CHECK_FALSE(server::PasswordMatches("U*V", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"));

  base::ManualClock clock{absl::FromUnixSeconds(1000)};
  server::SimpleTokens tokens(&clock, absl::Seconds(10));
  tokens.Assign("t1", "alice");
  tokens.Assign("t2", "bob");
  clock.Advance(absl::Seconds(8));
  CHECK(tokens.Lookup("t1") == std::optional<std::string>("alice"));  // use restarts its clock
  clock.Advance(absl::Seconds(8));
  CHECK(tokens.Lookup("t1").has_value());
  CHECK_FALSE(tokens.Lookup("t2").has_value());  // 16 s unused
  tokens.InvalidateUser("alice");
  CHECK_FALSE(tokens.Lookup("t1").has_value());
}

TEST_CASE("auth: authenticate assigns a token the edge can resolve", "[auth]") {
  AuthFixture f;
  f.Setup();
  CHECK(f.auth.CheckPassword("alice", "pw-alice").ok());
  CHECK(KindOf(f.auth.CheckPassword("alice", "nope").status()) == ErrorKind::kAuthFailed);
  CHECK(KindOf(f.auth.CheckPassword("nobody", "x").status()) == ErrorKind::kAuthFailed);
  serverpb::InternalRequest a;
  a.mutable_authenticate()->set_name("alice");
  a.mutable_authenticate()->set_simple_token("abcdefghijklmnop");
  auto got = f.Apply(a);
  REQUIRE(got.ok());
  const std::string token = got->authenticate().token();
  CHECK(token.rfind("abcdefghijklmnop.", 0) == 0);
  auto who = f.auth.Tokens().Info(token, f.auth.Revision());
  REQUIRE(who.has_value());
  CHECK(who->username == "alice");
  CHECK(who->revision == f.auth.Revision());
  // Changing the password drops the user's tokens.
  serverpb::InternalRequest pw;
  pw.mutable_user_change_password()->set_name("alice");
  pw.mutable_user_change_password()->set_hashedpassword(*server::HashPassword("new", 4));
  REQUIRE(f.Must(f.As(pw, "root")).ok());
  CHECK_FALSE(f.auth.Tokens().Info(token, f.auth.Revision()).has_value());
  CHECK(f.auth.CheckPassword("alice", "new").ok());
}

}  // namespace
}  // namespace ketcd_test
