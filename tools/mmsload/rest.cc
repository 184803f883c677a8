// --rest: sends through the REST facade, POST /2010-04-01/Accounts/{Sid}/Messages.json, over
// --concurrency keep-alive HTTP/1.1 connections with one request in flight on each (as a
// provider's helper library or h2load does). Statuses are still watched over gRPC.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "mmsload/harness.h"
#include "mmsload/stats.h"

namespace mmsload {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// application/x-www-form-urlencoded (RFC 3986 unreserved characters pass, the rest is %XX).
std::string FormEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3 / 2);
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// One keep-alive connection. Reconnects after a broken one; the request that broke counts as
// unanswered (kNoHttpAnswer), as a real client would report it.
class RestConnection {
 public:
  RestConnection(const RestTarget& target, std::chrono::milliseconds timeout)
      : target_(target), timeout_(timeout) {}

  // Sends `body` and waits for the answer. Returns false (with `error`) if none came.
  bool Post(const std::string& path, const std::string& authorization, const std::string& body,
            http::response<http::string_body>& response, std::string& error) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      beast::error_code ec;
      if (!stream_.socket().is_open()) {
        stream_.expires_after(timeout_);
        auto endpoints = resolver_.resolve(target_.host, target_.port, ec);
        if (!ec) stream_.connect(endpoints, ec);
        if (ec) {
          error = "cannot connect to " + target_.host + ":" + target_.port + ": " + ec.message();
          return false;
        }
        stream_.socket().set_option(asio::ip::tcp::no_delay(true));
      }
      http::request<http::string_body> request{http::verb::post, path, 11};
      request.set(http::field::host, target_.host + ":" + target_.port);
      request.set(http::field::authorization, authorization);
      request.set(http::field::content_type, "application/x-www-form-urlencoded");
      request.set(http::field::user_agent, "mmsload");
      request.keep_alive(true);
      request.body() = body;
      request.prepare_payload();
      stream_.expires_after(timeout_);
      http::write(stream_, request, ec);
      if (!ec) {
        response = {};
        http::read(stream_, buffer_, response, ec);
      }
      if (!ec) {
        if (!response.keep_alive()) Close();
        return true;
      }
      error = "POST " + path + ": " + ec.message();
      Close();
      // A keep-alive connection the server closed while idle: retry once on a fresh one, as
      // HTTP clients do. A request that fails on a fresh connection is reported.
      if (reused_ == 0) return false;
      reused_ = 0;
    }
    return false;
  }
  void Done() { ++reused_; }

 private:
  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    stream_.close();
    buffer_.clear();
    reused_ = 0;
  }

  const RestTarget& target_;
  std::chrono::milliseconds timeout_;
  asio::io_context io_;
  asio::ip::tcp::resolver resolver_{io_};
  beast::tcp_stream stream_{io_};
  beast::flat_buffer buffer_;
  int reused_ = 0;  // requests answered on the current connection
};

}  // namespace

std::optional<RestTarget> ParseRestTarget(const std::string& url, std::string* error) {
  const std::string scheme = "http://";
  if (!url.starts_with(scheme)) {
    *error = "--rest " + url + ": must be http://HOST:PORT (the gateway's REST facade)";
    return std::nullopt;
  }
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  RestTarget target;
  if (colon == std::string::npos) {
    target.host = rest;
    target.port = "80";
  } else {
    target.host = rest.substr(0, colon);
    target.port = rest.substr(colon + 1);
  }
  const bool port_ok = !target.port.empty() && target.port.size() <= 5 &&
                       std::all_of(target.port.begin(), target.port.end(),
                                   [](char c) { return c >= '0' && c <= '9'; }) &&
                       std::stoi(target.port) > 0 && std::stoi(target.port) < 65536;
  if (target.host.empty() || rest.find('/') != std::string::npos || !port_ok) {
    *error = "--rest " + url + ": must be http://HOST:PORT with a port in 1..65535 and no path";
    return std::nullopt;
  }
  return target;
}

void Harness::SendAllRest() {
  std::string error;
  const RestTarget target = *ParseRestTarget(options_.rest, &error);  // checked by ParseOptions
  const std::string path =
      "/2010-04-01/Accounts/" + FormEncode(options_.account) + "/Messages.json";
  const OpenLoopSchedule schedule(options_.rate);
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options_.timeout * 1000));
  const auto start = std::chrono::steady_clock::now();
  const int64_t start_ns = clock_.NowNs();
  {
    std::lock_guard lock(mutex_);
    first_send_ns_ = start_ns;
  }
  std::string shared_media_url;
  if (options_.media_bytes > 0 && options_.same_media) {
    FillerRandom random{0x6d6d736c6f6164ULL ^ static_cast<uint64_t>(start_ns)};
    shared_media_url =
        "data:image/png;base64," +
        absl::Base64Escape(random.Bytes(static_cast<std::size_t>(options_.media_bytes)));
  }
  // Each connection takes the next message; with --rate it waits for that message's due time.
  std::atomic<int64_t> next{0};
  auto connection_loop = [&](int connection_index) {
    RestConnection connection(target, timeout);
    FillerRandom random{0x726573746c6f6164ULL ^ static_cast<uint64_t>(start_ns) ^
                        static_cast<uint64_t>(connection_index)};
    http::response<http::string_body> response;
    for (int64_t i = next++; i < options_.count; i = next++) {
      const Kind kind = options_.mix_text.empty()
                            ? (options_.media_bytes > 0 ? Kind::kMms : Kind::kSms)
                            : KindFor(options_.mix, i);
      Record& record = records_[i];  // This thread's alone until the reply is recorded.
      record.kind = kind;
      record.from = options_.from[i % options_.from.size()];
      record.to = DestinationFor(options_, i, kind);
      std::string body = "To=" + FormEncode(record.to) + "&From=" + FormEncode(record.from) +
                         "&Body=" + FormEncode(BodyFor(options_, i));
      if (options_.validity_period > 0) {
        body += "&ValidityPeriod=" + std::to_string(options_.validity_period);
      }
      for (int m = 0; kind != Kind::kSms && options_.media_bytes > 0 && m < options_.media_count;
           ++m) {
        body += "&MediaUrl=" +
                FormEncode(options_.same_media
                               ? shared_media_url
                               : "data:image/png;base64," +
                                     absl::Base64Escape(random.Bytes(
                                         static_cast<std::size_t>(options_.media_bytes))));
      }
      if (schedule.paced()) {
        const auto offset = std::chrono::nanoseconds(schedule.DueNs(i));
        std::this_thread::sleep_until(start + offset);
        record.scheduled_ns = start_ns + offset.count();
      }
      record.send_start_ns = clock_.NowNs();
      Reply reply;
      std::string failure;
      if (!connection.Post(path, authorization_, body, response, failure)) {
        reply.code = kNoHttpAnswer;
        reply.error_text = failure;
        RecordReply(i, reply);
        continue;
      }
      connection.Done();
      const auto json = nlohmann::json::parse(response.body(), nullptr, /*allow_exceptions=*/false);
      const int status = static_cast<int>(response.result_int());
      if (status == 201 && json.is_object() && json.contains("sid") && json["sid"].is_string()) {
        reply.code = 0;
        reply.sid = json["sid"].get<std::string>();
      } else {
        reply.code = status == 201 ? 500 : status;  // 201 without a SID is not an acceptance.
        if (json.is_object() && json.contains("code") && json["code"].is_number_integer()) {
          reply.error_code = json["code"].get<int>();
        }
        reply.error_text =
            json.is_object() && json.contains("message") && json["message"].is_string()
                ? json["message"].get<std::string>()
                : response.body().substr(0, 200);
      }
      RecordReply(i, reply);
    }
  };
  std::vector<std::thread> threads;
  const int connections = static_cast<int>(std::min<int64_t>(options_.concurrency, options_.count));
  for (int c = 0; c < connections; ++c) threads.emplace_back(connection_loop, c);
  for (auto& thread : threads) thread.join();
  std::lock_guard lock(mutex_);
  sending_done_ = true;
  for (const auto& [sid, list] : early_) foreign_events_ += static_cast<int64_t>(list.size());
  early_.clear();
}

}  // namespace mmsload
