#pragma once
// mmsctl's output: tables that fit the terminal, times, durations, colour only on a terminal.

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mmsctl {

// Whether standard output is a terminal and NO_COLOR is unset (https://no-color.org).
bool UseColour();
// The terminal's width (COLUMNS, then the tty), 100 when standard output is not a terminal.
int TerminalWidth();

// `text` in the colour a status reads in: green DELIVERED, red UNDELIVERED/FAILED, yellow the
// rest; plain when colour is off.
std::string Coloured(const std::string& status, bool colour);

// "2026-12-03 07:04:18.123" (UTC), or "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& time);

// "60s", "5m", "1h30m", "800ms", "1.5s" as seconds; nullopt when it is not a duration.
std::optional<double> ParseDuration(const std::string& text);
// 0.123 -> "123ms", 4.5 -> "4.50s", 75 -> "1m15s".
std::string FormatSeconds(double seconds);

// The message as one line of JSON (protobuf's JSON mapping, field names as in the proto).
std::string ToJson(const google::protobuf::Message& message);

// A table: columns sized to their contents. When the whole is wider than `width`, the columns in
// `drop_order` are left out one by one until it fits, then the column marked `shrink` gives up
// the rest (its cells cut with "…").
class Table {
 public:
  explicit Table(std::vector<std::string> headers, int shrink_column = -1,
                 std::vector<int> drop_order = {})
      : headers_(std::move(headers)), shrink_(shrink_column), drop_order_(std::move(drop_order)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  // `colour_column`'s cells are coloured as statuses (when colour is on).
  std::string Render(int width, bool colour = false, int colour_column = -1) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  int shrink_;
  std::vector<int> drop_order_;
};

}  // namespace mmsctl
