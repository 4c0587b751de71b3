// RocksDB's own diagnostics (its "info log") routed to the member's Logger.
//
// By default RocksDB writes them to a LOG file in the store's directory,
// i.e. onto the disk whose failures they report. With Debian's RocksDB
// (built with assertions on), a write error on that LOG file followed by
// the next line RocksDB logs about the error aborts the process inside
// RocksDB's file writer ("Assertion `sync_without_flush_called_' failed")
// before the failed store write ever reaches ketcd: the member stopped
// without saying why. Through this logger RocksDB's warnings and errors go
// to the member's log instead and a failed write comes back to the caller
// as an IOError (which the apply loop turns into a fatal stop that names it).
#pragma once

#include <memory>

#include "rocksdb/env.h"

namespace base {
class Logger;
}  // namespace base

namespace storage {

// WARN, ERROR and FATAL lines of RocksDB as warn/error lines of `logger`
// (not owned; must outlive the store), prefixed "rocksdb: "; INFO, DEBUG and
// the options dump (HEADER) are dropped. A null logger drops everything (a
// tool's or a received snapshot's store: its errors come back as statuses).
std::shared_ptr<rocksdb::Logger> NewRocksInfoLogger(base::Logger* logger);

}  // namespace storage
