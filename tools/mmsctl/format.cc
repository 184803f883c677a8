#include "mmsctl/format.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace mmsctl {

bool UseColour() {
  const char* no_colour = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) == 1 && (no_colour == nullptr || *no_colour == '\0');
}

int TerminalWidth() {
  if (const char* columns = std::getenv("COLUMNS"); columns != nullptr) {
    const int width = std::atoi(columns);
    if (width >= 20) return width;
  }
  winsize size{};
  if (isatty(STDOUT_FILENO) == 1 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 &&
      size.ws_col >= 20) {
    return size.ws_col;
  }
  return 100;
}

std::string Coloured(const std::string& status, bool colour) {
  if (!colour) return status;
  const char* code = status == "DELIVERED"                           ? "32"
                     : status == "UNDELIVERED" || status == "FAILED" ? "31"
                                                                     : "33";
  return std::string("\033[") + code + "m" + status + "\033[0m";
}

std::string FormatTime(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(time.seconds());
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[96];  // room for any int the fields may hold, so the format cannot truncate
  std::snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d.%03d", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                time.nanos() / 1'000'000);
  return text;
}

std::optional<double> ParseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str() + at, &end);
    const auto used = static_cast<std::size_t>(end - (text.c_str() + at));
    if (used == 0 || !(value >= 0)) return std::nullopt;
    at += used;
    std::string unit;
    while (at < text.size() && std::isalpha(static_cast<unsigned char>(text[at])))
      unit += text[at++];
    if (unit == "ms") {
      total += value / 1000;
    } else if (unit == "s" || (unit.empty() && at == text.size())) {
      total += value;
    } else if (unit == "m") {
      total += value * 60;
    } else if (unit == "h") {
      total += value * 3600;
    } else {
      return std::nullopt;
    }
  }
  return total;
}

std::string FormatSeconds(double seconds) {
  char text[32];
  if (seconds < 1) {
    std::snprintf(text, sizeof text, "%.0fms", seconds * 1000);
  } else if (seconds < 60) {
    std::snprintf(text, sizeof text, "%.2fs", seconds);
  } else {
    const auto whole = static_cast<long long>(std::llround(seconds));
    std::snprintf(text, sizeof text, "%lldm%02llds", whole / 60, whole % 60);
  }
  return text;
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

namespace {
// Display width of UTF-8 text: code points (good enough for numbers, SIDs and most text).
std::size_t Width(const std::string& text) {
  std::size_t width = 0;
  for (unsigned char c : text) width += (c & 0xC0) != 0x80;
  return width;
}
// The first `width` code points, with "…" when cut.
std::string Cut(const std::string& text, std::size_t width) {
  if (Width(text) <= width) return text;
  if (width == 0) return "";
  std::string out;
  std::size_t points = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) {
      if (points == width - 1) break;
      ++points;
    }
    out += text[i];
  }
  return out + "…";
}
std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '\r', ' ');
  return text;
}
}  // namespace

std::string Table::Render(int width, bool colour, int colour_column) const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) widths[c] = Width(headers_[c]);
  for (const auto& row : rows_) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], Width(OneLine(row[c])));
    }
  }
  std::vector<bool> shown(widths.size(), true);
  auto total_width = [&] {
    std::size_t total = 0;
    for (std::size_t c = 0; c < widths.size(); ++c) total += shown[c] ? widths[c] + 2 : 0;
    return total > 0 ? total - 2 : 0;
  };
  const std::size_t shrink_floor =
      shrink_ >= 0 && static_cast<std::size_t>(shrink_) < widths.size()
          ? widths[static_cast<std::size_t>(shrink_)] -
                std::min<std::size_t>(widths[static_cast<std::size_t>(shrink_)], 8)
          : 0;
  // Leave columns out while even a shrunk table would not fit.
  for (int column : drop_order_) {
    if (total_width() - shrink_floor <= static_cast<std::size_t>(width)) break;
    if (column >= 0 && static_cast<std::size_t>(column) < shown.size()) shown[column] = false;
  }
  std::size_t total = total_width();
  if (shrink_ >= 0 && static_cast<std::size_t>(shrink_) < widths.size() &&
      total > static_cast<std::size_t>(width)) {
    const std::size_t over = total - static_cast<std::size_t>(width);
    auto& shrinking = widths[static_cast<std::size_t>(shrink_)];
    shrinking = std::max<std::size_t>(shrinking > over ? shrinking - over : 0, 8);
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string text;
    for (std::size_t c = 0; c < widths.size(); ++c) {
      if (!shown[c]) continue;
      std::string cell = Cut(OneLine(c < cells.size() ? cells[c] : ""), widths[c]);
      const std::size_t pad = widths[c] - Width(cell);
      if (!header && colour && static_cast<int>(c) == colour_column) cell = Coloured(cell, true);
      text += cell;
      text += std::string(pad + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(headers_, true);
  for (const auto& row : rows_) line(row, false);
  return out;
}

}  // namespace mmsctl
