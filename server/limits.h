// Limits on what one caller may hold or make informerd build: the settings (with documented
// defaults), the per-caller and total counters of streams and waits, the admission gate of
// Subscribe starts and the checks of a known_objects map. No gRPC in here.
#ifndef SERVER_LIMITS_H_
#define SERVER_LIMITS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace informer {
namespace server {

// What the gRPC transport lets a client send and hold (grpc::ServerBuilder settings).
struct GrpcLimits {
  // Largest request message (--max_receive_message_bytes). Fits a known_objects map of
  // max_known_objects entries with keys of a typical length (about 70 bytes an entry); gRPC's
  // own default is 4 MiB.
  size_t max_receive_message_bytes = size_t{16} << 20;
  // Concurrent calls on one HTTP/2 connection (GRPC_ARG_MAX_CONCURRENT_STREAMS,
  // --max_streams_per_connection); more wait in the client until one ends (they are not
  // refused), so it is above what one client process opens on its channel (a stream per
  // informer) and bounds the transport state of one connection.
  uint32_t max_streams_per_connection = 1000;
  // gRPC's resource quota: memory its buffers may use (0 = no cap) and threads it may start
  // (--grpc_memory_bytes, --grpc_max_threads). gRPC (up to at least 1.71) buffers a whole
  // request before it checks max_receive_message_bytes; near this cap it resets streams
  // (RST_STREAM ENHANCE_YOUR_CALM), so a 64 MiB request costs about 35 MiB at its peak instead
  // of 67 (measured, docs/configuration.md). Twice the receive limit.
  size_t memory_bytes = size_t{32} << 20;
  int max_threads = 64;
  // A connection is sent GOAWAY after this age (gRPC adds ±10% jitter; 0 = never), and its
  // calls still open `max_connection_age_grace` later are cut with UNAVAILABLE: the clients
  // then resubscribe with the objects they hold (known_objects), which the admission gate
  // paces (--max_connection_age, --max_connection_age_grace).
  absl::Duration max_connection_age = absl::Hours(1);
  absl::Duration max_connection_age_grace = absl::Minutes(1);
  // HTTP/2 keepalive towards clients: a ping after `keepalive_time` without one, the
  // connection closed when its ack takes longer than `keepalive_timeout`. A client that
  // vanished without closing (its node gone, a NAT entry dropped) thus frees its streams, their
  // quota and memory within time + timeout (--grpc_keepalive_time, --grpc_keepalive_timeout).
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Clients may ping this often, idle connections included (the client libraries ping every
  // 30 s to find a dead informerd); a client pinging more often gets GOAWAY too_many_pings
  // (--grpc_min_client_ping_interval).
  absl::Duration min_client_ping_interval = absl::Seconds(10);
};

// What the service lets callers hold. A caller is the authenticated user with --auth, else the
// client's IP address (every client behind one address, e.g. on loopback, counts as one).
struct CallLimits {
  // Entries of one Subscribe's known_objects (--max_known_objects).
  size_t max_known_objects = 100000;
  // Open Subscribe streams, in total and per caller (--max_subscribers,
  // --max_subscribers_per_caller).
  size_t max_subscribers = 10000;
  size_t max_subscribers_per_caller = 1000;
  // Calls waiting for min_resource_version, in total and per caller (--max_waits,
  // --max_waits_per_caller).
  size_t max_waits = 10000;
  size_t max_waits_per_caller = 1000;
  // Fresh and known_objects Subscribe starts building their initial state at once
  // (--max_concurrent_starts); a further start waits up to `start_queue_wait` (within its
  // deadline) for a slot, else RESOURCE_EXHAUSTED (--start_queue_wait).
  size_t max_concurrent_starts = 4;
  absl::Duration start_queue_wait = absl::Seconds(1);
};

// Indexes that clients register at run time with AddIndex (docs/configuration.md, "Indexes").
struct RuntimeIndexLimits {
  // Whether AddIndex may register indexes at all (--allow_runtime_indexes); off by default:
  // an index costs memory for every cached object and CPU on every change, for every caller.
  bool allowed = false;
  // Runtime indexes per resource (--max_runtime_indexes); past it AddIndex is
  // RESOURCE_EXHAUSTED. Indexes configured at start do not count.
  size_t max_per_resource = 8;
};

// The field masks of List, Get, ByIndex and Subscribe (`fields`) are capped without a flag:
// kMaxFieldPaths paths of kMaxFieldPathBytes each (server/field_mask.h).

// Longest namespace (a DNS-1123 label) and object name (a DNS-1123 subdomain, the longest name
// the API server accepts for any resource) of a Kubernetes object.
inline constexpr size_t kMaxNamespaceBytes = 63;
inline constexpr size_t kMaxNameBytes = 253;
// Longest resourceVersion accepted in known_objects (etcd's are decimal uint64, 20 digits).
inline constexpr size_t kMaxResourceVersionBytes = 64;

// Checks one known_objects entry's form, before anything is built for it: NAMESPACE/NAME for a
// namespaced resource, NAME for a cluster-scoped one, with a namespace of at most 63 bytes of
// [a-z0-9-] and a name of 1 to 253 bytes without '/', and a resourceVersion of 1 to 64 bytes.
// InvalidArgument naming the key and the expected form otherwise.
absl::Status CheckKnownObjectEntry(absl::string_view key, absl::string_view resource_version,
                                   bool namespaced);

// The count check of a known_objects map: ResourceExhausted naming --max_known_objects when
// `entries` exceeds `limit`.
absl::Status CheckKnownObjectCount(size_t entries, size_t limit);

// Counts units (streams, waits) per caller against a per-caller and a total cap.
//
// Thread-safety: every method may be called from any thread.
class CallerQuota {
 public:
  // `what` names a unit in refusals ("open Subscribe streams"); the flags are named in them.
  CallerQuota(std::string what, size_t per_caller, std::string per_caller_flag, size_t total,
              std::string total_flag);
  CallerQuota(const CallerQuota&) = delete;
  CallerQuota& operator=(const CallerQuota&) = delete;

  // One unit held by a caller; released when destroyed (or by Release). Move-only.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    ~Lease() { Release(); }
    // Gives the unit back. Idempotent.
    void Release();
    bool held() const { return quota_ != nullptr; }

   private:
    friend class CallerQuota;
    Lease(CallerQuota* quota, std::string caller) : quota_(quota), caller_(std::move(caller)) {}
    CallerQuota* quota_ = nullptr;  // must outlive the lease
    std::string caller_;
  };

  // A unit for `caller`. ResourceExhausted naming the cap, its flag and what to do when the
  // caller holds its cap or every caller together holds the total.
  absl::StatusOr<Lease> Acquire(const std::string& caller);

  // Units held in total and by `caller`.
  size_t total() const;
  size_t held_by(const std::string& caller) const;
  // Refusals so far (for metrics).
  uint64_t refused() const;

 private:
  void Release(const std::string& caller);

  const std::string what_;
  const size_t per_caller_;
  const std::string per_caller_flag_;
  const size_t total_cap_;
  const std::string total_flag_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, size_t> held_ ABSL_GUARDED_BY(mu_);
  size_t total_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

// At most `slots` holders at once; a further one waits up to a deadline for a slot.
//
// Thread-safety: every method may be called from any thread.
class AdmissionGate {
 public:
  // `wait` is the longest Enter waits (also bounded by its deadline).
  AdmissionGate(size_t slots, absl::Duration wait);

  // A slot; freed when destroyed. Move-only.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket() { Release(); }
    void Release();

   private:
    friend class AdmissionGate;
    explicit Ticket(AdmissionGate* gate) : gate_(gate) {}
    AdmissionGate* gate_ = nullptr;
  };

  // Waits for a slot until `deadline` (on the monotonic clock, informer::MonotonicNow) or the
  // gate's wait, whichever is sooner. ResourceExhausted
  // naming --max_concurrent_starts and advising a retry with backoff when none frees in time.
  absl::StatusOr<Ticket> Enter(absl::Time deadline);

  size_t in_use() const;
  uint64_t refused() const;

 private:
  void Leave();

  const size_t slots_;
  const absl::Duration wait_;
  mutable absl::Mutex mu_;
  size_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

// The quota key of a caller: "user:NAME" for an authenticated user (`username` not empty), else
// "ip:ADDRESS" from a gRPC peer string ("ipv4:127.0.0.1:5000", "ipv6:[::1]:5000", "unix:…");
// the port is dropped, so the connections of one host count together.
std::string CallerKey(absl::string_view username, absl::string_view peer);

}  // namespace server
}  // namespace informer

#endif  // SERVER_LIMITS_H_
