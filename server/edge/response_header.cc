#include "server/edge/response_header.h"

namespace server {

void FillHeader(const HeaderSource& src, HeaderRevision revision, etcdserverpb::ResponseHeader* h) {
  h->set_cluster_id(src.info.cluster_id);
  h->set_member_id(src.info.member_id);
  h->set_raft_term(src.proposer->Term());
  if (revision == HeaderRevision::kCurrent) h->set_revision(src.store->Rev());
}

}  // namespace server
