#include "clients/cpp/tests/test_env.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "informer/k8s/config.h"
#include "informerd/client.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

extern char** environ;

namespace informerd {
namespace e2e {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// {"k":"v",...} written with `w`.
void WriteMap(rapidjson::Writer<rapidjson::StringBuffer>& w,
              const std::map<std::string, std::string>& m) {
  w.StartObject();
  for (const auto& [k, v] : m) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    w.String(v);
  }
  w.EndObject();
}

absl::StatusOr<rapidjson::Document> Parse(const absl::StatusOr<std::string>& body) {
  if (!body.ok()) return body.status();
  rapidjson::Document doc;
  doc.Parse(body->c_str());
  if (doc.HasParseError() || !doc.IsObject()) return absl::InternalError("bad JSON from the API");
  return doc;
}

absl::StatusOr<std::string> ResourceVersionOf(const absl::StatusOr<std::string>& body) {
  absl::StatusOr<rapidjson::Document> doc = Parse(body);
  if (!doc.ok()) return doc.status();
  return std::string((*doc)["metadata"]["resourceVersion"].GetString());
}

}  // namespace

std::optional<TestEnv> GetTestEnv() {
  TestEnv env{Env("INFORMERD_TEST_ADDR"), Env("INFORMERD_TEST_KUBECONFIG"),
              Env("INFORMERD_TEST_BIN")};
  if (env.addr.empty() || env.kubeconfig.empty()) return std::nullopt;
  return env;
}

absl::StatusOr<std::unique_ptr<Kube>> Kube::Create(const std::string& kubeconfig) {
  informer::k8s::LoadOptions load;
  load.kubeconfig_path = kubeconfig;
  absl::StatusOr<informer::k8s::RestConfig> config = informer::k8s::LoadRestConfig(load);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::shared_ptr<informer::k8s::RestClient>> rest =
      informer::k8s::RestClient::Create(*config);
  if (!rest.ok()) return rest.status();
  absl::BitGen gen;
  std::string ns = absl::StrFormat("cpp-e2e-%08x", absl::Uniform<uint32_t>(gen));
  absl::StatusOr<std::string> created =
      (*rest)->Post("/api/v1/namespaces", absl::StrCat(R"({"metadata":{"name":")", ns, R"("}})"));
  if (!created.ok()) return created.status();
  return std::unique_ptr<Kube>(new Kube(*std::move(rest), std::move(ns)));
}

Kube::~Kube() { (void)rest_->Delete(absl::StrCat("/api/v1/namespaces/", ns_)); }

std::string Kube::Path(const std::string& name) const {
  return absl::StrCat("/api/v1/namespaces/", ns_, "/configmaps", name.empty() ? "" : "/", name);
}

absl::StatusOr<std::string> Kube::CreateConfigMap(const std::string& name,
                                                  const std::map<std::string, std::string>& labels,
                                                  const std::map<std::string, std::string>& data) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("metadata");
  w.StartObject();
  w.Key("name");
  w.String(name);
  w.Key("labels");
  WriteMap(w, labels);
  w.EndObject();
  w.Key("data");
  WriteMap(w, data);
  w.EndObject();
  return ResourceVersionOf(rest_->Post(Path(""), buf.GetString()));
}

absl::StatusOr<std::string> Kube::SetData(const std::string& name, const std::string& key,
                                          const std::string& value) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("data");
  WriteMap(w, {{key, value}});
  w.EndObject();
  return ResourceVersionOf(rest_->MergePatch(Path(name), buf.GetString()));
}

absl::Status Kube::DeleteConfigMap(const std::string& name) {
  return rest_->Delete(Path(name)).status();
}

absl::StatusOr<std::string> Kube::Annotation(const std::string& name,
                                             const std::string& annotation) {
  absl::StatusOr<rapidjson::Document> doc = Parse(rest_->Get(Path(name)));
  if (!doc.ok()) return doc.status();
  const rapidjson::Value& meta = (*doc)["metadata"];
  auto ann = meta.FindMember("annotations");
  if (ann == meta.MemberEnd()) return std::string();
  auto v = ann->value.FindMember(annotation.c_str());
  return v == ann->value.MemberEnd() ? std::string() : std::string(v->value.GetString());
}

absl::StatusOr<std::map<std::string, std::string>> Kube::ConfigMapVersions() {
  absl::StatusOr<rapidjson::Document> doc = Parse(rest_->Get(Path("")));
  if (!doc.ok()) return doc.status();
  std::map<std::string, std::string> out;
  for (const auto& item : (*doc)["items"].GetArray()) {
    out[absl::StrCat(ns_, "/", item["metadata"]["name"].GetString())] =
        item["metadata"]["resourceVersion"].GetString();
  }
  return out;
}

ServerProcess::ServerProcess(TestEnv env, std::string dir)
    : env_(std::move(env)), socket_(dir + "/informerd.sock"), log_(dir + "/informerd.log") {}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
}

absl::Status ServerProcess::Start() {
  std::vector<std::string> args = {env_.bin,
                                   "--kubeconfig=" + env_.kubeconfig,
                                   "--listen=unix:" + socket_,
                                   "--metrics_listen=",
                                   "--resources=configmaps",
                                   "--bookmark_interval=1s",
                                   "--log_format=text"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  int rc = posix_spawn(&pid_, env_.bin.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return absl::InternalError(absl::StrCat("spawning ", env_.bin, ": ", rc));
  std::shared_ptr<Client> client = Client::Connect(target());
  client->set_timeout(absl::Seconds(1));
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    auto res = client->ListResources();
    if (res.ok() && !res->empty() && (*res)[0].synced()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::ifstream in(log_);
  std::stringstream log;
  log << in.rdbuf();
  return absl::UnavailableError("informerd not synced after 60 s; log:\n" + log.str());
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool Eventually(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

// --- BlackholeProxy --------------------------------------------------------------------------

BlackholeProxy::~BlackholeProxy() {
  closing_ = true;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_ >= 0) shutdown(listener_, SHUT_RDWR);
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  std::lock_guard<std::mutex> lock(mu_);
  for (int fd : fds_) close(fd);
  if (listener_ >= 0) close(listener_);
}

absl::Status BlackholeProxy::Start(const std::string& upstream) {
  std::pair<std::string, std::string> host_port = absl::StrSplit(upstream, ':');
  upstream_host_ = host_port.first;
  if (!absl::SimpleAtoi(host_port.second, &upstream_port_)) {
    return absl::InvalidArgumentError(absl::StrCat("not host:port: ", upstream));
  }
  listener_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener_, 16) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError("cannot listen on 127.0.0.1");
  }
  port_ = ntohs(addr.sin_port);
  std::lock_guard<std::mutex> lock(mu_);
  threads_.emplace_back([this] { Accept(); });
  return absl::OkStatus();
}

std::string BlackholeProxy::target() const { return absl::StrCat("127.0.0.1:", port_); }

void BlackholeProxy::Blackhole() { blackholed_ = true; }

void BlackholeProxy::Accept() {
  while (!closing_) {
    const int client = accept(listener_, nullptr, nullptr);
    if (client < 0) return;
    const int upstream = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    inet_pton(AF_INET, upstream_host_.c_str(), &addr.sin_addr);
    if (upstream < 0 || connect(upstream, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close(client);
      if (upstream >= 0) close(upstream);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(client);
    fds_.push_back(upstream);
    threads_.emplace_back([this, client, upstream] { Forward(client, upstream); });
  }
}

void BlackholeProxy::Forward(int client, int upstream) {
  char buf[16384];
  pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
  while (!closing_) {
    if (blackholed_) {  // hold everything; close nothing
      absl::SleepFor(absl::Milliseconds(20));
      continue;
    }
    if (poll(fds, 2, 50) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) return;  // a side closed: the destructor closes both
      for (ssize_t off = 0; off < n;) {
        const ssize_t w = write(fds[1 - i].fd, buf + off, static_cast<size_t>(n - off));
        if (w <= 0) return;
        off += w;
      }
    }
  }
}

}  // namespace e2e
}  // namespace informerd
