#pragma once
// A small synchronous HTTP client and a local HTTP server for integration tests, on the same
// Beast the gateway uses. Only 127.0.0.1.

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/http/http_server.h"

namespace mmsgate::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

// One request over a fresh connection to "HOST:PORT" (or an absolute http:// URL's authority).
HttpResult HttpRequestTo(const std::string& host_port, const std::string& method,
                         const std::string& target,
                         const std::map<std::string, std::string>& headers = {},
                         const std::string& body = "");
// An application/x-www-form-urlencoded body, every byte but A-Z a-z 0-9 - . _ ~ escaped.
std::string FormBody(const std::vector<std::pair<std::string, std::string>>& fields);

// GET an absolute http:// URL.
HttpResult HttpGetUrl(const std::string& url,
                      const std::map<std::string, std::string>& headers = {});

// An HTTP server on 127.0.0.1:0 running its own io_context thread.
class LocalHttpServer {
 public:
  explicit LocalHttpServer(gateway::HttpHandler handler);
  ~LocalHttpServer();
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  boost::asio::io_context io_;
  std::unique_ptr<gateway::HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

// An application's webhook endpoint: records every request's path and body, and answers each
// with `twiml` (text/xml).
class RecordingApplication {
 public:
  explicit RecordingApplication(std::string twiml = "<Response/>");
  std::string Url(const std::string& path) const { return server_.base_url() + path; }
  // The bodies of the requests to `path` so far, waiting (bounded, 20 s) for at least `count`.
  std::vector<std::string> Await(const std::string& path, std::size_t count);

 private:
  const std::string twiml_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> requests_;  // target, body
  LocalHttpServer server_;
};

}  // namespace mmsgate::testing
