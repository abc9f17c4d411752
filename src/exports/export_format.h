// Export encoders: turn stored events (canonical JSON, one at a time) into the bytes of an
// export file in CSV, NDJSON or JSON, optionally gzip-compressed, in bounded memory.
//
// Formats (PRODUCT.md capability 8):
//  * ndjson: each event's JSON exactly as given, followed by "\n".
//  * json: one JSON array; "[", then the events, each on its own line and separated by
//    ",", then "\n]\n". So 0 events give "[\n]\n" and 2 give "[\ne1,\ne2\n]\n".
//  * csv: UTF-8 without byte order mark, RFC 4180: records end with CRLF; a field is quoted
//    with '"' (and each '"' inside doubled) exactly when it contains '"', ',', CR or LF. The
//    first record is the header; the columns, a stable contract (columns are only ever
//    added at the end), are, in this order:
//      id               the event id
//      seq              the event's position in its organization's log (1, 2, 3, ...)
//      organization_id
//      occurred_at      RFC 3339 UTC, as stored (6 fractional digits)
//      received_at      likewise
//      action
//      version          the event's schema version; empty when absent
//      actor_id
//      actor_type
//      actor_name       empty when absent
//      target_types     JSON array of the targets' types, in event order, e.g.
//                       ["finding","user"] (compact, canonical string escaping)
//      target_ids       JSON array of the targets' ids, in the same order
//      location         context.location; empty when absent
//      user_agent       context.user_agent; empty when absent
//      metadata         the event's metadata object as compact JSON; empty when absent
//      changes          the changes object ({op, before, after}) as compact JSON; empty when
//                       absent
//      source_kind      source.kind, e.g. "api"
//    Text cells hold the string's value (unescaped, UTF-8 bytes as stored). JSON cells
//    (target_types, target_ids, metadata, changes) hold compact JSON: no whitespace,
//    members in stored order, strings and numbers written as RFC 8785 writes them; for a
//    stored event, which is canonical, that is the member's stored text byte for byte.
//    Formula-injection neutralisation (OWASP "CSV Injection", ASVS 1.2.10): every cell
//    except seq whose first byte is '=', '+', '-', '@', TAB, CR, LF or NUL gets a "'"
//    prepended, before quoting. So "=1+1" is written as '=1+1 and "-x,y" as "'-x,y".
//
// gzip: the output is one gzip member (RFC 1952) of raw deflate data written by zlib at
// level 1 (about twice as fast as the default level 6, and audit logs are repetitive enough
// to compress well anyway), produced incrementally; annals writes the header and the trailer
// (CRC-32 and length of the whole content). Rows may also be deflated on other threads as
// independent pieces (RowCompressor, AddCompressed): each piece is byte-aligned, and the
// encoder's own deflate data ends with a full flush before one, so no back-reference crosses
// a piece's edge and the CRC-32s combine (as pigz does, without priming the dictionary).
// Memory stays bounded whatever the number of rows: buffers sized by the largest event,
// 64 KiB of input staged for deflate, and zlib's own state (about 256 KiB).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "annals/status.h"

namespace annals::exports {

enum class ExportFormat { kCsv, kNdjson, kJson };

// Parses a format name: exactly "csv", "ndjson" or "json" (case-sensitive). Anything else
// is Status::InvalidArgument with error code "invalid_request" and a message naming the
// allowed values. Thread-safe.
Result<ExportFormat> ParseExportFormat(std::string_view name);

// "csv", "ndjson" or "json". Thread-safe.
std::string_view ExportFormatName(ExportFormat format);

// The media type of the uncompressed content: "text/csv; charset=utf-8",
// "application/x-ndjson" or "application/json". Thread-safe.
std::string_view ContentType(ExportFormat format);

// The file name extension, without the leading dot: "csv", "ndjson" or "json", with ".gz"
// appended when `gzip` ("csv.gz"). Thread-safe.
std::string_view FileExtension(ExportFormat format, bool gzip);

// Rows deflated on their own (RowCompressor) for a gzip export: the deflate data (byte-
// aligned, not final, referring to nothing outside itself), and the CRC-32 and length of the
// rows it holds.
struct CompressedRows {
  std::string deflated;
  uint32_t crc32 = 0;
  uint64_t size = 0;
};

// Encodes one export. Call Begin once, then Add for each event in export order, then Finish
// once; each appends the next bytes of the file to *out (compressed when gzip is on), so a
// caller can ship *out and clear it between calls. Add and Finish call Begin first if it was
// not called. Bytes appended are never taken back.
//
// With gzip, deflate keeps recent input to itself, so a call may append nothing; Finish
// appends the rest and the gzip trailer.
//
// Not thread-safe: one encoder per export, used by one thread at a time. Movable; a
// moved-from encoder may only be destroyed or assigned to.
class ExportEncoder {
 public:
  // Fails (Status::Internal) only if zlib cannot set up its compressor (out of memory).
  static Result<ExportEncoder> Create(ExportFormat format, bool gzip);

  ExportEncoder(ExportEncoder&&) noexcept;
  ExportEncoder& operator=(ExportEncoder&&) noexcept;
  ~ExportEncoder();

  // Appends the start of the file: the CSV header, the JSON array's "[". Does nothing when
  // called again or after Finish.
  void Begin(std::string* out);

  // Appends one event. `event_json` is one stored event: a JSON object with the members of
  // the event model (PRODUCT.md "Event model"), in canonical form. Required: id,
  // organization_id, action, occurred_at, received_at (strings), seq (an integer >= 1),
  // actor {id, type: strings; name: optional string}, targets (an array of {id, type:
  // strings}), source {kind: string}. Optional, and treated as absent when null: version
  // (an integer), context {location, user_agent: optional strings}, metadata and changes
  // (objects). Other members are ignored by CSV and kept by NDJSON and JSON. Member names
  // are compared after unescaping; when a name occurs twice, the first occurrence counts.
  //
  // An event that is not such an object, is not valid JSON (RFC 8259, UTF-8), or contains a
  // CR or LF byte (canonical JSON has no whitespace; NDJSON needs one event per line) is
  // Status::InvalidArgument with error code "invalid_event" (with a detail whose path points
  // at the offending member, when there is one), in every format; then nothing is appended
  // and the encoder can go on with the next event.
  //
  // After Finish: Status::Internal, nothing appended. If zlib fails (not expected with
  // valid use): Status::Internal, and the encoder counts as finished.
  Status Add(std::string_view event_json, std::string* out);

  // Verifiable NDJSON (docs/integrity.md "Verifiable exports"): appends the event, validated
  // as Add validates it, as the line {"event":<event_json>,"leaf_index":<leaf_index>}.
  // kInvalidArgument for CSV and JSON encoders.
  Status AddVerifiable(std::string_view event_json, uint64_t leaf_index, std::string* out);
  // Encoding on several threads: EncodeRow and EncodeVerifiableRow validate one event as Add
  // and AddVerifiable do and append its row, uncompressed, to *rows instead of the file (a
  // JSON element with the separator ",\n" before it); they change nothing else, so any
  // encoder of the same format can encode rows for another (one per thread). AddEncoded then
  // appends, in file order, such rows (`count` of them, encoded by an encoder of this
  // format) to the file, as the same Add calls would have. Status codes as for Add.
  Status EncodeRow(std::string_view event_json, std::string* rows);
  Status EncodeVerifiableRow(std::string_view event_json, uint64_t leaf_index,
                             std::string* rows);
  Status AddEncoded(std::string_view rows, uint64_t count, std::string* out);
  // gzip exports: appends rows that a RowCompressor deflated (`piece`, from `rows` as
  // EncodeRow gave them), in file order, as AddEncoded(rows, count) would have. The file
  // stays one gzip member; pieces cost a few bytes of ratio against one deflate stream.
  // kInvalidArgument without gzip.
  Status AddCompressed(std::string_view rows, const CompressedRows& piece, uint64_t count,
                       std::string* out);

  // Appends `line` (one JSON object without line breaks: the verification trailer) and a
  // newline, verbatim; not counted in rows(). kInvalidArgument for CSV and JSON encoders.
  Status AddTrailer(std::string_view line, std::string* out);

  // Appends the end of the file (the JSON array's "]", the rest of the gzip member and its
  // trailer). Called twice: Status::Internal, nothing appended. zlib failures as for Add.
  Status Finish(std::string* out);

  ExportFormat format() const;
  bool gzip() const;
  // Events added so far.
  uint64_t rows() const;
  // Bytes appended to the callers' strings so far (compressed bytes with gzip).
  uint64_t bytes_out() const;

 private:
  struct Impl;
  explicit ExportEncoder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Deflates rows for ExportEncoder::AddCompressed, so that a gzip export's compression can
// run on several threads. Not thread-safe: one per thread. Movable.
class RowCompressor {
 public:
  // Fails (Status::Internal) only if zlib cannot set up its compressor (out of memory).
  static Result<RowCompressor> Create();
  RowCompressor(RowCompressor&&) noexcept;
  RowCompressor& operator=(RowCompressor&&) noexcept;
  ~RowCompressor();

  // Replaces *piece with `rows` deflated (at the export's level) on their own.
  Status Compress(std::string_view rows, CompressedRows* piece);

 private:
  struct Impl;
  explicit RowCompressor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals::exports
