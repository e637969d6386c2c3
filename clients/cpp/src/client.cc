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

grpc::ChannelArguments ReconnectArgs() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Client>> Client::Connect(const std::string& target,
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
  return std::make_shared<Client>(grpc::CreateCustomChannel(target, credentials, ReconnectArgs()));
}

std::shared_ptr<Client> Client::Connect(const std::string& target) {
  grpc::ChannelArguments args;
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also uses it as the connect timeout, and a
  // server busy starting up would then never finish its handshake in time.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return std::make_shared<Client>(
      grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
}

Client::Client(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(informer::v1::InformerService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  return ctx;
}

absl::StatusOr<std::vector<informer::v1::ResourceStatus>> Client::ListResources() {
  auto ctx = NewContext();
  informer::v1::ListResourcesResponse resp;
  grpc::Status s = stub_->ListResources(ctx.get(), informer::v1::ListResourcesRequest(), &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  return std::vector<informer::v1::ResourceStatus>(resp.resources().begin(),
                                                   resp.resources().end());
}

absl::StatusOr<ObjectList> Client::List(const std::string& resource, const ListOptions& options) {
  for (int attempt = 0;; ++attempt) {
    informer::v1::ListRequest req;
    req.set_resource(resource);
    req.set_namespace_(options.namespace_name);
    req.set_label_selector(options.label_selector);
    req.set_field_selector(options.field_selector);
    req.set_limit(options.limit);
    req.set_min_resource_version(options.min_resource_version);
    ObjectList out;
    grpc::Status s;
    while (true) {
      auto ctx = NewContext();
      informer::v1::ListResponse resp;
      s = stub_->List(ctx.get(), req, &resp);
      if (!s.ok()) break;
      out.resource_version = resp.resource_version();
      if (absl::Status a = AppendObjects(resp.objects(), &out.items); !a.ok()) return a;
      if (resp.next_page_token().empty()) return out;
      req.set_page_token(resp.next_page_token());
    }
    if (s.error_code() != grpc::StatusCode::ABORTED || attempt >= kMaxListRestarts) {
      return FromGrpcStatus(s);
    }
  }
}

absl::StatusOr<ObjectPtr> Client::Get(const std::string& resource,
                                      const std::string& namespace_name, const std::string& name,
                                      const std::string& min_resource_version) {
  informer::v1::GetRequest req;
  req.set_resource(resource);
  req.set_namespace_(namespace_name);
  req.set_name(name);
  req.set_min_resource_version(min_resource_version);
  auto ctx = NewContext();
  informer::v1::GetResponse resp;
  grpc::Status s = stub_->Get(ctx.get(), req, &resp);
  if (!s.ok()) return FromGrpcStatus(s);
  return Object::FromProto(resp.object());
}

absl::StatusOr<std::vector<ObjectPtr>> Client::ByIndex(const std::string& resource,
                                                       const std::string& index_name,
                                                       const std::string& value,
                                                       const ListOptions& options) {
  for (int attempt = 0;; ++attempt) {
    informer::v1::ByIndexRequest req;
    req.set_resource(resource);
    req.set_index_name(index_name);
    req.set_value(value);
    req.set_namespace_(options.namespace_name);
    req.set_label_selector(options.label_selector);
    req.set_field_selector(options.field_selector);
    req.set_limit(options.limit);
    req.set_min_resource_version(options.min_resource_version);
    std::vector<ObjectPtr> out;
    grpc::Status s;
    while (true) {
      auto ctx = NewContext();
      informer::v1::ByIndexResponse resp;
      s = stub_->ByIndex(ctx.get(), req, &resp);
      if (!s.ok()) break;
      if (absl::Status a = AppendObjects(resp.objects(), &out); !a.ok()) return a;
      if (resp.next_page_token().empty()) return out;
      req.set_page_token(resp.next_page_token());
    }
    if (s.error_code() != grpc::StatusCode::ABORTED || attempt >= kMaxListRestarts) {
      return FromGrpcStatus(s);
    }
  }
}

}  // namespace informerd
