#include "query/sse_parser.h"

#include <algorithm>
#include <charconv>

namespace annals {

namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

Status TooLarge(size_t max_bytes) {
  return Status::InvalidArgument("the event stream has a line or an event longer than " +
                                     std::to_string(max_bytes) + " bytes",
                                 "stream_too_large");
}

}  // namespace

Status SseParser::Feed(std::string_view chunk, std::vector<SseEvent>* out) {
  if (failed_) return TooLarge(max_bytes_);
  size_t pos = 0;
  if (skip_lf_ && !chunk.empty()) {
    skip_lf_ = false;
    if (chunk.front() == '\n') pos = 1;
  }
  while (pos < chunk.size()) {
    const size_t end = chunk.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) {
      line_.append(chunk.substr(pos));
      break;
    }
    std::string_view line = chunk.substr(pos, end - pos);
    if (!line_.empty()) {
      line_.append(line);
      line = line_;
    }
    if (line.size() > max_bytes_) {
      failed_ = true;
      return TooLarge(max_bytes_);
    }
    ProcessLine(line, out);
    line_.clear();
    if (data_.size() > max_bytes_) {
      failed_ = true;
      return TooLarge(max_bytes_);
    }
    pos = end + 1;
    if (chunk[end] == '\r') {
      if (pos == chunk.size()) {
        skip_lf_ = true;  // the LF of a CRLF may start the next chunk
      } else if (chunk[pos] == '\n') {
        ++pos;
      }
    }
  }
  if (line_.size() > max_bytes_) {
    failed_ = true;
    return TooLarge(max_bytes_);
  }
  return Status::Ok();
}

void SseParser::Restart() {
  line_.clear();
  skip_lf_ = false;
  at_start_ = true;
  failed_ = false;
  data_.clear();
  type_.clear();
  id_buffer_ = last_event_id_;
}

void SseParser::ProcessLine(std::string_view line, std::vector<SseEvent>* out) {
  if (at_start_) {
    at_start_ = false;
    if (line.starts_with(kBom)) line.remove_prefix(kBom.size());
  }
  if (line.empty()) {
    // Dispatch.
    last_event_id_ = id_buffer_;
    if (data_.empty()) {
      type_.clear();
      return;
    }
    data_.pop_back();  // every data line appended a '\n'
    SseEvent e;
    e.type = type_.empty() ? "message" : std::move(type_);
    e.data = std::move(data_);
    e.id = last_event_id_;
    out->push_back(std::move(e));
    data_.clear();
    type_.clear();
    return;
  }
  if (line.front() == ':') return;  // a comment
  std::string_view field = line;
  std::string_view value;
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    type_.assign(value);
  } else if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_buffer_.assign(value);
  } else if (field == "retry") {
    uint64_t ms = 0;
    const bool digits =
        !value.empty() && std::all_of(value.begin(), value.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
    if (digits) {
      const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
      if (ec == std::errc() && p == value.data() + value.size()) retry_ms_ = ms;
    }
  }
}

}  // namespace annals
