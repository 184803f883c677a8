#include "integration/mmsgate_process.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include "absl/strings/escaping.h"

extern char** environ;

namespace mmsgate::testing {

std::string Base64(const std::string& text) { return absl::Base64Escape(text); }

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

std::string MmsgateProcess::MakeTempDir(const std::string& tag) {
  std::random_device random;
  auto dir =
      std::filesystem::temp_directory_path() /
      ("mmsgate-test-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::unique_ptr<MmsgateProcess> MmsgateProcess::Start(Options options) {
  std::unique_ptr<MmsgateProcess> process(new MmsgateProcess());
  process->data_dir_ = options.data_dir.empty() ? MakeTempDir("data") : options.data_dir;
  process->owns_data_dir_ = options.data_dir.empty();
  std::vector<std::string> args = {MMSGATE_BINARY,
                                   "--grpc",
                                   "127.0.0.1:0",
                                   "--http",
                                   "127.0.0.1:0",
                                   "--data-dir",
                                   process->data_dir_ + "/store"};
  if (!options.scenario_text.empty()) {
    const std::string path = process->data_dir_ + "/scenario.txtpb";
    std::ofstream(path) << options.scenario_text;
    args.push_back("--scenario");
    args.push_back(path);
  }
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  if (options.max_open_files > 0) {
    // util-linux's prlimit sets the limit and then execs mmsgate: same pid, as `ulimit -n N`.
    const std::string limit = std::to_string(options.max_open_files);
    args.insert(args.begin(), {"/usr/bin/prlimit", "--nofile=" + limit + ":" + limit, "--"});
  }
  process->log_path_ = process->data_dir_ + "/mmsgate-" +
                       std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
                       ".log";

  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, process->log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&process->pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    throw std::runtime_error("cannot start " + std::string(MMSGATE_BINARY));
  }
  process->stdout_fd_ = out_pipe[0];

  // Read stdout lines until the ready line, for at most 60 s (a cold start opens RocksDB).
  std::string buffer;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fd{process->stdout_fd_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) break;
    char chunk[4096];
    const ssize_t n = ::read(process->stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::istringstream lines(buffer);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream words(line);
      std::string w1, w2, w3, w4, w5;
      words >> w1 >> w2;
      if (w1 == "mmsgate" && w2 == "account") {
        words >> process->account_sid_ >> w3 >> process->auth_token_;
      }
      if (w1 == "mmsgate" && w2 == "ready") {
        words >> w4 >> w5;
        process->grpc_address_ = w4.substr(w4.find('=') + 1);
        process->http_address_ = w5.substr(w5.find('=') + 1);
        return process;
      }
    }
  }
  const std::string log = process->Log();
  process->Kill();
  throw std::runtime_error("mmsgate did not become ready; its stderr:\n" + log);
}

MmsgateProcess::~MmsgateProcess() {
  if (pid_ > 0) Kill();
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  if (owns_data_dir_) {
    std::error_code ignored;
    std::filesystem::remove_all(data_dir_, ignored);
  }
}

int MmsgateProcess::Wait() {
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int MmsgateProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  return Wait();
}

void MmsgateProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Wait();
}

std::string MmsgateProcess::Log() const {
  std::ifstream in(log_path_);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::shared_ptr<grpc::Channel> MmsgateProcess::Channel() const {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  arguments.SetMaxSendMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(grpc_address_, grpc::InsecureChannelCredentials(), arguments);
}

std::unique_ptr<grpc::ClientContext> MmsgateProcess::ContextFor(const std::string& sid,
                                                                const std::string& token,
                                                                int deadline_seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Basic " + Base64(sid + ":" + token));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_seconds));
  return context;
}

std::unique_ptr<grpc::ClientContext> MmsgateProcess::Context(int deadline_seconds) const {
  return ContextFor(account_sid_, auth_token_, deadline_seconds);
}

}  // namespace mmsgate::testing
