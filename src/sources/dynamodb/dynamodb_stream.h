// DynamoDB Streams records, as AWS Lambda receives them, turned into annals events
// (docs/change-capture.md "DynamoDB Streams"). Pure functions; thread-safe.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "annals/options.h"
#include "annals/status.h"
#include "sources/push_source.h"
#include "sources/source_config.h"

namespace annals {

// Converts a DynamoDB number (the text of an "N" value) to JSON: a JSON number when the
// decimal value survives a round trip through an IEEE-754 double (12.50 -> 12.5, 35 -> 35),
// otherwise the text itself as a string, exactly ("12345678901234567890.5").
// kInvalidArgument "invalid_record" when the text is not a decimal number ("1e", "abc", "")
// or lies outside DynamoDB's number range (38 significant digits, magnitudes 1E-130 to
// 9.99...E+125): DynamoDB never produces those.
Result<boost::json::value> DynamoDbNumberToJson(std::string_view text);

// Converts one typed AttributeValue ({"S": "x"}, {"N": "1"}, {"M": {...}}, ...) to plain
// JSON: S strings; N as DynamoDbNumberToJson; B base64 strings (validated); BOOL booleans;
// NULL null; M objects; L arrays; SS, NS and BS arrays in a stable order (strings and
// binaries by byte order, numbers by value), since sets have none and an unchanged set must
// never show as a change. Errors are kInvalidArgument "invalid_record" with one detail whose
// path is `path` plus the place inside the value.
Result<boost::json::value> AttributeValueToJson(const boost::json::value& attribute,
                                                const std::string& path);

// Converts an image (a map of attribute name to AttributeValue) to a JSON object.
Result<boost::json::object> ImageToJson(const boost::json::value& image, const std::string& path);

// The event one stream record maps to, before validation: the event JSON, the canonical
// "source" member and the idempotency key.
struct MappedRecord {
  boost::json::object event;
  std::string source_json;
  std::string idempotency_key;  // "dynamodb <source name> <eventID>"
  std::string ordering_key;     // table and key of the item
};

// Maps one record of a DynamoDB stream Lambda event (`record` is Records[i], `path` its
// JSON Pointer, "/Records/<i>"). Errors are kInvalidArgument "invalid_record" with details
// pointing into the record (a missing image, an unknown attribute type, a missing
// organization attribute, ...).
Result<MappedRecord> MapDynamoDbRecord(const boost::json::object& record,
                                       const DynamoDbSourceConfig& config,
                                       const std::string& path);

// Decodes a whole Lambda event ({"Records": [...]}) for a DynamoDB source. Each record
// becomes a draft (MapDynamoDbRecord, then the event rules of the API via MakeSourceDraft)
// or the reason it cannot be stored.
//
// The body as a whole is refused (kInvalidArgument, nothing of it may be stored) when it is
// not a DynamoDB stream Lambda event: not strict JSON ("invalid_json"), not an object with a
// "Records" array, a record that is not an object, whose eventSource is not "aws:dynamodb"
// (e.g. an SQS event), or that has no dynamodb.SequenceNumber to be named by
// ("invalid_request"; details point at the problem).
Result<LambdaBatch> DecodeDynamoDbEvent(std::string_view body, const DynamoDbSourceConfig& config,
                                        const EventLimits& limits,
                                        const SourceBatchContext& context);


}  // namespace annals
