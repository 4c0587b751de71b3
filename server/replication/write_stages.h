// WriteStages: where a replicated write spends its time on the member that
// proposed it, stage by stage, for /metrics
// (ketcd_server_write_stage_duration_seconds{stage=...}) and for
// `ketcd-bench --breakdown`. etcd has no such metrics; the names are ours.
//
//   accepted ─propose_wait─▶ taken by the raft loop ─(raft step)─▶ appended
//     ─replication─▶ committed ─apply─▶ in the store ─respond─▶ answered
//                 └wal_append┘ (inside replication on a leader: it syncs
//                               while the followers do)
//
//   propose_wait  Propose() accepted the request until the loop took it
//                 from its inbox (the hand-off to the loop thread);
//   wal_append    the raft log's write and fdatasync of the entries
//                 (per entry written; the same span as
//                 etcd_disk_wal_fsync_duration_seconds, finer buckets);
//   replication   leader only: the Ready that carried the entry began to
//                 be persisted (and sent) until a Ready committed it: the
//                 quorum round trip, the leader's own sync included;
//   apply         committed until the store batch holding it is written;
//   respond       written until the request's waiter was called (the
//                 answers of the batch's earlier requests went first);
//   total         accepted until the waiter was called.
//
// Beside the stages, the hand-off every quorum round trip pays twice:
// peer_wait, a raft message from a peer from its arrival (the peer
// stream's read, on a gRPC thread) until the loop took it from its inbox.
// It covers every message from a peer, not only those a write waits for:
// on a leader at one write at a time, about one answer in four is the one
// that completes a quorum (the rest answer the second append, the commit
// news and heartbeats, often while the loop applies), so its percentiles
// are the hand-off's in general. Once per message, in its own family
// (ketcd_server_peer_message_wait_seconds).
//
// The waiter's own run (gRPC's Finish) is left to the client's side of the
// breakdown: respond and total are recorded before the answer leaves, so
// that a client that scrapes /metrics on its answer finds its request.
//
// Batches count once per entry (or per request answered), so the stage
// percentiles are comparable with a client's per-request ones. Each stage
// boundary is one clock read on the loop thread; recording is lock-free.
// Thread-safety: record on the loop thread, read from any.
#pragma once

#include "base/latency_histogram.h"

namespace server {

struct WriteStages {
  // 10 µs to ~0.4 s in steps of 1.5x: a stage's median is resolved to
  // within a third even at tens of microseconds.
  static constexpr double kStartSeconds = 10e-6;
  static constexpr double kFactor = 1.5;
  static constexpr int kBuckets = 27;

  base::LatencyHistogram propose_wait{kStartSeconds, kFactor, kBuckets};
  base::LatencyHistogram wal_append{kStartSeconds, kFactor, kBuckets};
  base::LatencyHistogram replication{kStartSeconds, kFactor, kBuckets};
  base::LatencyHistogram apply{kStartSeconds, kFactor, kBuckets};
  base::LatencyHistogram respond{kStartSeconds, kFactor, kBuckets};
  base::LatencyHistogram total{kStartSeconds, kFactor, kBuckets};
  base::LatencyHistogram peer_wait{kStartSeconds, kFactor, kBuckets};
};

}  // namespace server
