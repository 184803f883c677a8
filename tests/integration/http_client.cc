#include "integration/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <stdexcept>

namespace mmsgate::testing {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

HttpResult HttpRequestTo(const std::string& host_port, const std::string& method,
                         const std::string& target,
                         const std::map<std::string, std::string>& headers,
                         const std::string& body) {
  const auto colon = host_port.rfind(':');
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect(resolver.resolve(host_port.substr(0, colon), host_port.substr(colon + 1)));
  http::request<http::string_body> request(http::string_to_verb(method), target, 11);
  request.set(http::field::host, host_port);
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = body;
  request.prepare_payload();
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  http::read(stream, buffer, parser);
  HttpResult result;
  result.status = static_cast<int>(parser.get().result_int());
  for (const auto& field : parser.get()) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    result.headers[name] = std::string(field.value());
  }
  result.body = parser.get().body();
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return result;
}

HttpResult HttpGetUrl(const std::string& url, const std::map<std::string, std::string>& headers) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) throw std::invalid_argument("not an http URL: " + url);
  const auto slash = url.find('/', prefix.size());
  return HttpRequestTo(url.substr(prefix.size(), slash - prefix.size()), "GET",
                       slash == std::string::npos ? "/" : url.substr(slash), headers);
}

LocalHttpServer::LocalHttpServer(gateway::HttpHandler handler)
    : server_(std::make_unique<gateway::HttpServer>(io_, gateway::HttpServerOptions{},
                                                    std::move(handler))) {
  std::string error;
  auto endpoint = server_->Listen("127.0.0.1", 0, &error);
  if (!endpoint) throw std::runtime_error("test HTTP server: " + error);
  port_ = endpoint->port();
  thread_ = std::thread([this] { io_.run(); });
}

LocalHttpServer::~LocalHttpServer() {
  server_->Stop();
  io_.stop();
  thread_.join();
}

std::string FormBody(const std::vector<std::pair<std::string, std::string>>& fields) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string body;
  const auto append = [&](const std::string& text) {
    for (const unsigned char c : text) {
      if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
        body.push_back(static_cast<char>(c));
      } else {
        body += {'%', kHex[c >> 4], kHex[c & 15]};
      }
    }
  };
  for (const auto& [name, value] : fields) {
    if (!body.empty()) body.push_back('&');
    append(name);
    body.push_back('=');
    append(value);
  }
  return body;
}

RecordingApplication::RecordingApplication(std::string twiml)
    : twiml_(std::move(twiml)),
      server_(
          [this](gateway::HttpRequest request, std::function<void(gateway::HttpResponse)> respond) {
            {
              std::lock_guard lock(mutex_);
              requests_.emplace_back(std::string(request.target()), request.body());
            }
            gateway::HttpResponse response(boost::beast::http::status::ok, request.version());
            response.set(boost::beast::http::field::content_type, "text/xml");
            response.body() = twiml_;
            response.prepare_payload();
            respond(std::move(response));
          }) {}

std::vector<std::string> RecordingApplication::Await(const std::string& path, std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (true) {
    std::vector<std::string> bodies;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [target, body] : requests_) {
        if (target == path) bodies.push_back(body);
      }
    }
    if (bodies.size() >= count || std::chrono::steady_clock::now() > deadline) return bodies;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace mmsgate::testing
