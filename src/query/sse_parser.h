// A parser for text/event-stream (server-sent events), following the WHATWG HTML standard's
// "Interpreting an event stream" rules, for clients that follow a live stream (`annals tail`).
//
// The stream is fed in chunks of any size, split anywhere (inside a line, inside a CRLF,
// inside a UTF-8 sequence). Lines end with CRLF, LF or CR. A line starting with ':' is a
// comment; otherwise it is "field: value" (one space after the colon is dropped) or a bare
// field name with an empty value. Fields: `event` sets the event type, `data` appends a line
// to the data, `id` sets the last event id (ignored when it contains U+0000), `retry` sets the
// reconnection time (only ASCII digits); other fields are ignored. A blank line dispatches
// the event when its data is not empty, with the final line feed of the data removed.
// A byte-order mark at the very start of the stream is skipped. At the end of a stream a
// partial event is discarded, never dispatched.
//
// One deliberate difference from the standard: a restarted stream (a reconnection) starts
// with the last event id of the previous one instead of an empty one, as browsers do, so
// that an event without an `id` field does not forget the position to resume from.
//
// Not thread-safe; one parser per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"

namespace annals {

struct SseEvent {
  std::string type;  // the `event` field, or "message" when the event had none
  std::string data;  // the `data` lines joined with '\n'
  std::string id;    // the last event id when the event was dispatched (may be empty)
};

class SseParser {
 public:
  // Lines and event data longer than `max_bytes` are refused: Feed then fails and the
  // parser is unusable until Restart.
  static constexpr size_t kDefaultMaxBytes = 16 << 20;
  explicit SseParser(size_t max_bytes = kDefaultMaxBytes) : max_bytes_(max_bytes) {}

  // Parses the next bytes of the stream and appends every event they complete to `*out`.
  // Fails (kInvalidArgument, "stream_too_large") when a line or an event exceeds max_bytes.
  Status Feed(std::string_view chunk, std::vector<SseEvent>* out);

  // Starts a new stream (after a reconnection): drops any partial line and the undispatched
  // event, keeps last_event_id() and retry_ms().
  void Restart();

  // The id to send as Last-Event-ID when reconnecting: the last event id as of the last
  // blank line (an `id` field of an event that was never completed does not count).
  const std::string& last_event_id() const { return last_event_id_; }
  // The reconnection time the server asked for with a `retry` field, in milliseconds.
  std::optional<uint64_t> retry_ms() const { return retry_ms_; }

 private:
  void ProcessLine(std::string_view line, std::vector<SseEvent>* out);

  const size_t max_bytes_;
  std::string line_;          // the current, unterminated line
  bool skip_lf_ = false;      // the previous chunk ended with CR: a leading LF ends nothing
  bool at_start_ = true;      // no line completed yet in this stream (the BOM check)
  bool failed_ = false;
  std::string data_;          // the data buffer
  std::string type_;          // the event type buffer
  std::string id_buffer_;     // the last event id buffer
  std::string last_event_id_;
  std::optional<uint64_t> retry_ms_;
};

}  // namespace annals
