#pragma once
// Starts the real mmsgate binary for integration tests: port 0 on 127.0.0.1, a scenario file
// written by the test, and its own data directory. Talks to it only over sockets.

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace mmsgate::testing {

// Scenario text for a test's own account and a long code of it with SMS and MMS: what most
// tests that write their own scenario start with.
inline std::string ScenarioAccountWithLongCode(const std::string& account_sid,
                                               const std::string& auth_token,
                                               const std::string& number,
                                               const std::string& country = "US") {
  return "accounts { sid: \"" + account_sid + "\" auth_token: \"" + auth_token + "\" }\n" +
         "numbers { number: \"" + number + "\" account_sid: \"" + account_sid +
         "\" type: LONG_CODE country: \"" + country + "\" capabilities { sms: true mms: true } }\n";
}

class MmsgateProcess {
 public:
  struct Options {
    // Text-format scenario; empty runs the built-in default scenario.
    std::string scenario_text;
    // Reuse a data directory (restart tests); empty makes a fresh one.
    std::string data_dir;
    std::vector<std::string> extra_args;
    // When positive, the process runs with this open-file limit (soft and hard), as `ulimit -n`.
    int max_open_files = 0;
  };

  // Starts mmsgate and waits for its ready line. Throws std::runtime_error with the process's
  // stderr when it does not come up.
  static std::unique_ptr<MmsgateProcess> Start(Options options);
  ~MmsgateProcess();

  // SIGTERM, then waits; returns the exit code (or 128 + signal).
  int Stop();
  // SIGKILL, then waits.
  void Kill();

  // The process id, for reading /proc/<pid>/status (memory figures).
  pid_t pid() const { return pid_; }
  const std::string& grpc_address() const { return grpc_address_; }
  const std::string& http_address() const { return http_address_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& account_sid() const { return account_sid_; }
  const std::string& auth_token() const { return auth_token_; }
  // stderr of the process so far.
  std::string Log() const;

  std::shared_ptr<grpc::Channel> Channel() const;
  // A context with Basic credentials of the default account (or the given ones).
  std::unique_ptr<grpc::ClientContext> Context(int deadline_seconds = 30) const;
  static std::unique_ptr<grpc::ClientContext> ContextFor(const std::string& sid,
                                                         const std::string& token,
                                                         int deadline_seconds = 30);

  // A fresh empty directory under the system temp dir.
  static std::string MakeTempDir(const std::string& tag);

 private:
  MmsgateProcess() = default;
  int Wait();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string grpc_address_;
  std::string http_address_;
  std::string data_dir_;
  std::string log_path_;
  std::string account_sid_;
  std::string auth_token_;
  // A data directory this object made (and removes); a given one belongs to the test.
  bool owns_data_dir_ = false;
};

// base64 of `text` (for Basic credentials).
std::string Base64(const std::string& text);
// Lowercase hex SHA-256.
std::string Sha256Hex(const std::string& data);

}  // namespace mmsgate::testing
