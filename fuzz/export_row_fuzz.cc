// libFuzzer target for the export encoders' two ways of reading a stored event
// (src/exports/canonical_event.h). For every input, each format encodes it as a row twice:
// as given, and with a space after its opening brace, which the strict canonical reader
// always declines, so that the general simdjson path reads it. Both must accept or both
// reject (with the same error), and accepted rows must be byte for byte the same (NDJSON
// and JSON rows are the event's text, compared without the space). Whenever the canonical
// reader accepts an input, its text must also parse as JSON. A broken invariant calls
// abort().
#include <simdjson.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "exports/canonical_event.h"
#include "exports/export_format.h"

namespace {

void Check(bool ok, const char* what, std::string_view input) {
  if (ok) return;
  std::fprintf(stderr, "invariant broken: %s\ninput: %.*s\n", what,
               static_cast<int>(input.size()), input.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string event(reinterpret_cast<const char*>(data), size);
  annals::exports::CanonicalEvent fields;
  std::vector<std::string_view> types, ids;
  if (annals::exports::ReadCanonicalEvent(event, &fields, &types, &ids)) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    Check(parser.parse(event).get(root) == simdjson::SUCCESS && root.is_object(),
          "what the canonical reader accepts is a JSON object", event);
  }
  if (event.empty() || event[0] != '{') return 0;
  const std::string spaced = "{ " + event.substr(1);
  for (const auto format : {annals::exports::ExportFormat::kCsv,
                            annals::exports::ExportFormat::kNdjson,
                            annals::exports::ExportFormat::kJson}) {
    auto encoder = annals::exports::ExportEncoder::Create(format, false);
    Check(encoder.ok(), "an encoder can be created", event);
    std::string as_given, general;
    const annals::Status a = encoder->EncodeRow(event, &as_given);
    const annals::Status b = encoder->EncodeRow(spaced, &general);
    Check(a.ok() == b.ok(), "both paths accept or both reject", event);
    if (!a.ok()) {
      Check(a.ToString() == b.ToString(), "both paths give the same error", event);
      continue;
    }
    if (format != annals::exports::ExportFormat::kCsv) {
      const size_t at = general.find("{ ");
      Check(at != std::string::npos, "the row holds the event", event);
      general.erase(at + 1, 1);
    }
    Check(as_given == general, "both paths give the same row", event);
  }
  return 0;
}
