#include "informerd/client.h"

#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace informerd {
namespace {

// How often a paged read restarts after its snapshot expired (ABORTED).
constexpr int kMaxListRestarts = 3;

// Converts the objects of one page.
absl::Status AppendObjects(const google::protobuf::RepeatedPtrField<informer::v1::Object>& in,
                           std::vector<ObjectPtr>* out) {
  for (const informer::v1::Object& o : in) {
    absl::StatusOr<ObjectPtr> obj = Object::FromProto(o);
    if (!obj.ok()) return obj.status();
    out->push_back(*std::move(obj));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// `authorization: Bearer <token>` with the token re-read from a file, so a projected token
// rotated by the kubelet is picked up without a restart.
class TokenFilePlugin : public grpc::MetadataCredentialsPlugin {
 public:
  TokenFilePlugin(std::string path, absl::Duration reread)
      : path_(std::move(path)), reread_(reread) {}
  grpc::Status GetMetadata(grpc::string_ref, grpc::string_ref, const grpc::AuthContext&,
                           std::multimap<grpc::string, grpc::string>* metadata) override {
    std::string token;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = absl::Now();
      if (token_.empty() || now >= next_read_) {
        absl::StatusOr<std::string> text = ReadFile(path_);
        if (text.ok()) token_ = std::string(absl::StripAsciiWhitespace(*text));
        next_read_ = now + reread_;
      }
      token = token_;
    }
    if (token.empty()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, absl::StrCat("no token in ", path_));
    }
    metadata->emplace("authorization", absl::StrCat("Bearer ", token));
    return grpc::Status::OK;
  }

 private:
  const std::string path_;
  const absl::Duration reread_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::Time next_read_ ABSL_GUARDED_BY(mu_);
};

// Reconnects at most 2 s apart, so informers notice a restarted server soon, and keepalive
// pings as `options` says.
grpc::ChannelArguments ChannelArgs(const ConnectOptions& options) {
  grpc::ChannelArguments args;
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also uses it as the connect timeout, and a
  // server busy starting up would then never finish its handshake in time.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  if (options.keepalive_time > absl::ZeroDuration()) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_time)));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options.keepalive_timeout)));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    // Keep pinging while a quiet stream is open (bookmarks are data, but may be minutes apart).
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  return args;
}

// One channel to `target` with the credentials, reconnect pacing and keepalive of `options`.
absl::StatusOr<std::shared_ptr<grpc::Channel>> NewChannel(const std::string& target,
                                                          const ConnectOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    absl::StatusOr<std::string> ca = ReadFile(options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    if (!options.cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadFile(options.cert_file);
      absl::StatusOr<std::string> key = ReadFile(options.key_file);
      if (!cert.ok()) return cert.status();
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    credentials = grpc::SslCredentials(ssl);
  } else if (absl::StartsWith(target, "unix:")) {
    credentials = grpc::experimental::LocalCredentials(UDS);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  if (!options.token_file.empty()) {
    if (options.ca_file.empty() && !absl::StartsWith(target, "unix:")) {
      return absl::InvalidArgumentError(
          "a token is sent only over TLS or a unix socket: set ca_file too");
    }
    credentials = grpc::CompositeChannelCredentials(
        credentials, grpc::MetadataCredentialsFromPlugin(std::make_unique<TokenFilePlugin>(
                         options.token_file, options.token_reread)));
  }
  return grpc::CreateCustomChannel(target, credentials, ChannelArgs(options));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Client>> Client::Connect(const std::string& target,
                                                        const ConnectOptions& options) {
  return ConnectAny({target}, options);
}

std::shared_ptr<Client> Client::Connect(const std::string& target) {
  return std::make_shared<Client>(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), ChannelArgs({})));
}

absl::StatusOr<std::shared_ptr<Client>> Client::ConnectAny(const std::vector<std::string>& targets,
                                                           const ConnectOptions& options) {
  if (targets.empty()) return absl::InvalidArgumentError("no informerd address given");
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (const std::string& target : targets) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = NewChannel(target, options);
    if (!channel.ok()) return channel.status();
    channels.push_back(*std::move(channel));
  }
  return std::make_shared<Client>(std::move(channels));
}

Client::Client(std::shared_ptr<grpc::Channel> channel)
    : Client(std::vector<std::shared_ptr<grpc::Channel>>{std::move(channel)}) {}

Client::Client(std::vector<std::shared_ptr<grpc::Channel>> channels) {
  for (std::shared_ptr<grpc::Channel>& channel : channels) {
    auto stub = informer::v1::InformerService::NewStub(channel);
    replicas_.push_back(Replica{std::move(channel), std::move(stub)});
  }
}

size_t Client::FailOver(size_t from) {
  const size_t next = (from + 1) % replicas_.size();
  size_t expected = from;
  if (current_.compare_exchange_strong(expected, next, std::memory_order_acq_rel)) return next;
  return expected;  // another caller already moved on
}

bool Client::ShouldRetry(const grpc::Status& status, size_t replica, RetryState* retry) {
  if (status.error_code() == grpc::StatusCode::ABORTED && retry->restarts < kMaxListRestarts) {
    ++retry->restarts;
    return true;
  }
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      retry->failovers + 1 < replicas_.size()) {
    ++retry->failovers;
    FailOver(replica);
    return true;
  }
  return false;
}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  return ctx;
}

absl::StatusOr<std::vector<informer::v1::ResourceStatus>> Client::ListResources() {
  auto ctx = NewContext();
  informer::v1::ListResourcesResponse resp;
  grpc::Status s = stub().ListResources(ctx.get(), informer::v1::ListResourcesRequest(), &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  return std::vector<informer::v1::ResourceStatus>(resp.resources().begin(),
                                                   resp.resources().end());
}

absl::StatusOr<ObjectList> Client::List(const std::string& resource, const ListOptions& options) {
  RetryState retry;
  while (true) {
    // Every page from one replica: a page token names that replica's snapshot.
    const size_t replica = current();
    informer::v1::ListRequest req;
    req.set_resource(resource);
    req.set_namespace_(options.namespace_name);
    req.set_label_selector(options.label_selector);
    req.set_field_selector(options.field_selector);
    req.set_limit(options.limit);
    req.set_min_resource_version(options.min_resource_version);
    for (const std::string& path : options.fields) req.add_fields(path);
    req.set_wait_for_sync(options.wait_for_sync);
    ObjectList out;
    grpc::Status s;
    while (true) {
      auto ctx = NewContext();
      informer::v1::ListResponse resp;
      s = replicas_[replica].stub->List(ctx.get(), req, &resp);
      if (!s.ok()) break;
      out.resource_version = resp.resource_version();
      if (absl::Status a = AppendObjects(resp.objects(), &out.items); !a.ok()) return a;
      if (resp.next_page_token().empty()) return out;
      req.set_page_token(resp.next_page_token());
    }
    if (!ShouldRetry(s, replica, &retry)) return FromGrpcStatus(s);
  }
}

absl::StatusOr<ObjectPtr> Client::Get(const std::string& resource,
                                      const std::string& namespace_name, const std::string& name,
                                      const std::string& min_resource_version) {
  GetOptions options;
  options.min_resource_version = min_resource_version;
  return Get(resource, namespace_name, name, options);
}

absl::StatusOr<ObjectPtr> Client::Get(const std::string& resource,
                                      const std::string& namespace_name, const std::string& name,
                                      const GetOptions& options) {
  informer::v1::GetRequest req;
  req.set_resource(resource);
  req.set_namespace_(namespace_name);
  req.set_name(name);
  req.set_min_resource_version(options.min_resource_version);
  for (const std::string& path : options.fields) req.add_fields(path);
  req.set_wait_for_sync(options.wait_for_sync);
  RetryState retry;
  while (true) {
    const size_t replica = current();
    auto ctx = NewContext();
    informer::v1::GetResponse resp;
    grpc::Status s = replicas_[replica].stub->Get(ctx.get(), req, &resp);
    if (s.ok()) return Object::FromProto(resp.object());
    if (!ShouldRetry(s, replica, &retry)) return FromGrpcStatus(s);
  }
}

absl::StatusOr<std::vector<ObjectPtr>> Client::ByIndex(const std::string& resource,
                                                       const std::string& index_name,
                                                       const std::string& value,
                                                       const ListOptions& options) {
  RetryState retry;
  while (true) {
    const size_t replica = current();
    informer::v1::ByIndexRequest req;
    req.set_resource(resource);
    req.set_index_name(index_name);
    req.set_value(value);
    req.set_namespace_(options.namespace_name);
    req.set_label_selector(options.label_selector);
    req.set_field_selector(options.field_selector);
    req.set_limit(options.limit);
    req.set_min_resource_version(options.min_resource_version);
    for (const std::string& path : options.fields) req.add_fields(path);
    req.set_wait_for_sync(options.wait_for_sync);
    std::vector<ObjectPtr> out;
    grpc::Status s;
    while (true) {
      auto ctx = NewContext();
      informer::v1::ByIndexResponse resp;
      s = replicas_[replica].stub->ByIndex(ctx.get(), req, &resp);
      if (!s.ok()) break;
      if (absl::Status a = AppendObjects(resp.objects(), &out); !a.ok()) return a;
      if (resp.next_page_token().empty()) return out;
      req.set_page_token(resp.next_page_token());
    }
    if (!ShouldRetry(s, replica, &retry)) return FromGrpcStatus(s);
  }
}

}  // namespace informerd
