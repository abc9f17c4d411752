#include "server/openapi.h"

namespace annals {

// Kept by hand next to the route table (src/server/api.cc); tests/integration/openapi_test.cc
// fails when a route and this document disagree.
std::string_view OpenApiDocument() {
  static constexpr std::string_view kDocument = R"json({
  "openapi": "3.1.0",
  "info": {
    "title": "annals native API",
    "version": "1",
    "description": "The native /v1 API of annals, a multi-tenant platform audit log, and its WorkOS-compatible routes (/audit_logs/..., /organizations/{id}/audit_logs_retention, /portal/...). Every route except /healthz, /readyz, /metrics and /portal/{intent} needs Authorization: Bearer <key>. Native errors share one shape (Error) and lists one shape (data + list_metadata); the WorkOS routes answer in WorkOS' shapes (WorkosError, object: list)."
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "schemas": {
      "WorkosError": {"type": "object", "description": "The error body of the WorkOS-compatible routes (never the native Error).", "required": ["message", "code"], "properties": {"message": {"type": "string"}, "code": {"type": "string", "examples": ["invalid_audit_log_event", "invalid_request", "organization_not_found", "idempotency_conflict", "rate_limit_exceeded"]}, "errors": {"type": "array", "items": {"type": "object", "properties": {"instancePath": {"type": "string", "description": "JSON Pointer relative to the event (400 invalid_audit_log_event only)"}, "field": {"type": "string"}, "code": {"type": "string", "description": "One sentence"}}}}}},
      "AuditLogSchema": {"type": "object", "properties": {"object": {"const": "audit_log_schema"}, "version": {"type": "integer"}, "targets": {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}, "metadata": {"type": "object"}}}}, "actor": {"type": "object", "properties": {"metadata": {"type": "object"}}}, "metadata": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"}}},
      "WorkosExport": {"type": "object", "properties": {"object": {"const": "audit_log_export"}, "id": {"type": "string"}, "state": {"enum": ["pending", "ready", "error"]}, "url": {"type": "string"}, "created_at": {"type": "string"}, "updated_at": {"type": "string"}}},
      "Export": {"type": "object", "properties": {"object": {"const": "export"}, "id": {"type": "string"}, "organization_id": {"type": "string"}, "state": {"enum": ["pending", "running", "ready", "error"]}, "format": {"enum": ["csv", "ndjson", "json"]}, "gzip": {"type": "boolean"}, "filter": {"type": "object"}, "rows_written": {"type": "integer"}, "total_estimate": {"type": ["integer", "null"]}, "bytes": {"type": "integer"}, "error": {"type": ["string", "null"]}, "url": {"type": ["string", "null"]}, "url_expires_at": {"type": ["string", "null"], "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}, "finished_at": {"type": ["string", "null"], "format": "date-time"}}},
      "WorkosRetention": {"type": "object", "properties": {"retention_period_in_days": {"type": ["integer", "null"]}}},
      "RetentionPolicy": {"type": "object", "properties": {"organization_id": {"type": "string"}, "deleted_items_keep_for": {"type": "string", "example": "180d"}, "max_event_age": {"type": ["string", "null"]}, "legal_hold": {"type": "boolean"}, "updated_at": {"type": ["string", "null"], "format": "date-time"}}},
      "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
          "code": {"type": "string", "examples": ["invalid_event", "unauthorized", "insufficient_scope", "organization_not_found", "rate_limited", "overloaded"]},
          "message": {"type": "string"},
          "details": {"type": "array", "items": {"type": "object", "properties": {"path": {"type": "string", "description": "JSON Pointer"}, "message": {"type": "string"}}}}}}}
      },
      "TreeHead": {"type": "object", "description": "A signed tree head (docs/integrity.md)", "properties": {"organization_id": {"type": "string"}, "tree_size": {"type": "integer"}, "root_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "timestamp": {"type": "string", "format": "date-time"}, "previous_head_hash": {"type": "string", "description": "64 hex, or empty for the first head"}, "key_id": {"type": "string"}, "signature": {"type": "string", "description": "base64 of the 64-byte Ed25519 signature"}}},
      "TreeKey": {"type": "object", "properties": {"algorithm": {"const": "ed25519"}, "key_id": {"type": "string"}, "public_key": {"type": "string", "description": "base64 of the 32 raw bytes"}, "valid_from": {"type": "string", "format": "date-time"}, "valid_until": {"type": ["string", "null"], "format": "date-time"}}},
      "ListMetadata": {"type": "object", "properties": {"before": {"type": ["string", "null"]}, "after": {"type": ["string", "null"]}}},
      "Target": {"type": "object", "required": ["id", "type"], "properties": {"id": {"type": "string"}, "type": {"type": "string"}, "name": {"type": "string"}, "metadata": {"type": "object"}}},
      "EventInput": {
        "type": "object",
        "required": ["action", "occurred_at", "actor", "targets"],
        "properties": {
          "organization_id": {"type": "string", "description": "Required with a platform key; implied by an organization key."},
          "action": {"type": "string", "maxLength": 128, "pattern": "^[a-z0-9_.-]+$"},
          "occurred_at": {"type": "string", "format": "date-time"},
          "version": {"type": "integer"},
          "actor": {"type": "object", "required": ["id", "type"], "properties": {"id": {"type": "string"}, "type": {"type": "string"}, "name": {"type": "string"}, "metadata": {"type": "object"}}},
          "targets": {"type": "array", "minItems": 1, "maxItems": 32, "items": {"$ref": "#/components/schemas/Target"}},
          "context": {"type": "object", "properties": {"location": {"type": "string"}, "user_agent": {"type": "string"}}},
          "metadata": {"type": "object", "maxProperties": 50},
          "changes": {"type": "object", "required": ["op"], "properties": {"op": {"enum": ["create", "update", "delete", "snapshot"]}, "before": {"type": "object"}, "after": {"type": "object"}}},
          "idempotency_key": {"type": "string", "maxLength": 256}
        }
      },
      "Event": {
        "description": "A stored event in canonical form (RFC 8785).",
        "allOf": [{"$ref": "#/components/schemas/EventInput"}, {"type": "object", "required": ["id", "seq", "received_at", "source", "organization_id"], "properties": {
          "id": {"type": "string", "pattern": "^evt_[0-9A-HJKMNP-TV-Z]{26}$"},
          "seq": {"type": "integer", "minimum": 1},
          "received_at": {"type": "string", "format": "date-time"},
          "source": {"type": "object", "properties": {"kind": {"type": "string"}}}}}]
      },
      "Stream": {"type": "object", "properties": {"object": {"const": "stream"}, "id": {"type": "string"}, "organization_id": {"type": "string"}, "name": {"type": "string"}, "type": {"enum": ["webhook", "splunk_hec", "datadog", "s3", "syslog"]}, "config": {"type": "object", "description": "The destination's configuration without its secret members (write-only)"}, "filter": {"type": "object", "properties": {"action": {"type": "array", "items": {"type": "string"}}, "actor_id": {"type": "array", "items": {"type": "string"}}, "target_type": {"type": "array", "items": {"type": "string"}}, "target_id": {"type": "array", "items": {"type": "string"}}}}, "batch": {"$ref": "#/components/schemas/StreamBatch"}, "state": {"enum": ["active", "paused", "error", "disabled"]}, "delivered_seq": {"type": "integer"}, "delivered_events": {"type": "integer"}, "dead_letters": {"type": "integer"}, "lag": {"type": "object", "properties": {"events": {"type": "integer"}, "seconds": {"type": "number"}}}, "consecutive_failures": {"type": "integer"}, "last_error": {"type": ["string", "null"]}, "last_error_at": {"type": ["string", "null"], "format": "date-time"}, "last_http_status": {"type": ["integer", "null"]}, "last_success_at": {"type": ["string", "null"], "format": "date-time"}, "next_attempt_at": {"type": ["string", "null"], "format": "date-time"}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
      "StreamBatch": {"type": "object", "properties": {"max_events": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 500}, "max_bytes": {"type": "integer", "minimum": 1024, "maximum": 67108864, "default": 1048576}, "max_delay_ms": {"type": "integer", "minimum": 0, "maximum": 3600000, "default": 1000}}},
      "StreamFilterInput": {"type": "object", "properties": {"action": {"type": ["string", "array"]}, "actor_id": {"type": ["string", "array"]}, "target_type": {"type": ["string", "array"]}, "target_id": {"type": ["string", "array"]}}},
      "DeadLetter": {"type": "object", "properties": {"object": {"const": "dead_letter"}, "id": {"type": "string"}, "first_seq": {"type": "integer"}, "last_seq": {"type": "integer"}, "events": {"type": "integer"}, "reason": {"enum": ["rejected", "event_too_large"]}, "http_status": {"type": ["integer", "null"]}, "detail": {"type": "string"}, "attempts": {"type": "integer"}, "at": {"type": "string", "format": "date-time"}, "redriving": {"type": "boolean"}}},
      "EventList": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}},
      "Acks": {"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}, "seq": {"type": "integer"}, "commitment": {"type": "string", "description": "with receipt=true"}}}}}},
      "Organization": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "external_id": {"type": ["string", "null"]},
        "settings": {"type": "object"}, "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"}}},
      "OrganizationList": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Organization"}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}},
      "ApiKey": {"type": "object", "properties": {
        "id": {"type": "string", "pattern": "^key_[0-9A-HJKMNP-TV-Z]{26}$"}, "name": {"type": "string"},
        "kind": {"enum": ["platform", "organization"]}, "organization_id": {"type": ["string", "null"]},
        "scopes": {"type": "array", "items": {"enum": ["events:write", "events:read", "admin"]}},
        "created_at": {"type": "string", "format": "date-time"}, "created_by": {"type": "string"},
        "expires_at": {"type": ["string", "null"], "format": "date-time"}, "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "last_used_at": {"type": ["string", "null"], "format": "date-time"},
        "key": {"type": "string", "description": "The secret key annals_<id>_<secret>; only in the creation response."}}},
      "ApiKeyList": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}},
      "LambdaBatchResponse": {"type": "object", "description": "AWS Lambda's partial batch response, plus the outcome of every record in input order.", "required": ["batchItemFailures", "records"], "properties": {
        "batchItemFailures": {"type": "array", "items": {"type": "object", "required": ["itemIdentifier"], "properties": {"itemIdentifier": {"type": "string", "description": "DynamoDB SequenceNumber or SQS messageId of a record that was not stored"}}}},
        "records": {"type": "array", "items": {"type": "object", "required": ["itemIdentifier"], "properties": {"itemIdentifier": {"type": "string"}, "id": {"type": "string"}, "seq": {"type": "integer"}, "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array", "items": {"type": "object"}}}}}}}}}
    },
    "parameters": {
      "organization_id": {"name": "organization_id", "in": "query", "schema": {"type": "string"}, "description": "Required with a platform key."},
      "action": {"name": "action", "in": "query", "schema": {"type": "string"}, "description": "Exact action or prefix.* (repeatable)."},
      "actor_id": {"name": "actor_id", "in": "query", "schema": {"type": "string"}},
      "target_type": {"name": "target_type", "in": "query", "schema": {"type": "string"}},
      "target_id": {"name": "target_id", "in": "query", "schema": {"type": "string"}},
      "from": {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}, "description": "occurred_at >= from"},
      "to": {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}, "description": "occurred_at < to"},
      "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
      "after": {"name": "after", "in": "query", "schema": {"type": "string"}},
      "before": {"name": "before", "in": "query", "schema": {"type": "string"}},
      "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}
    },
    "responses": {
      "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    }
  },
  "security": [{"bearer": []}],
  "paths": {
    "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "The process is up"}}}},
    "/readyz": {"get": {"summary": "Readiness", "security": [], "responses": {"200": {"description": "Accepting writes"}, "503": {"$ref": "#/components/responses/Error"}}}},
    "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "Text exposition format 0.0.4", "content": {"text/plain": {}}}}}},
    "/audit_logs/events": {"post": {"summary": "WorkOS: create an audit log event {organization_id, event} (scope events:write; Idempotency-Key header). Errors in WorkOS' shape.",
      "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["organization_id", "event"], "properties": {"organization_id": {"type": "string"}, "event": {"$ref": "#/components/schemas/EventInput"}}}}}},
      "responses": {"201": {"description": "Stored", "content": {"application/json": {"schema": {"type": "object", "properties": {"success": {"const": true}}}}}}, "400": {"description": "Invalid event", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "404": {"description": "Unknown organization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "409": {"description": "Idempotency key reused with other content", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "422": {"description": "Invalid request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}},
    "/audit_logs/exports": {"post": {"summary": "WorkOS: start a CSV export of an organization's events in [range_start, range_end) (scope events:read)",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["organization_id", "range_start", "range_end"], "properties": {"organization_id": {"type": "string"}, "range_start": {"type": "string", "format": "date-time"}, "range_end": {"type": "string", "format": "date-time"}, "actions": {"type": "array", "items": {"type": "string"}}, "actors": {"type": "array", "items": {"type": "string"}}, "actor_names": {"type": "array", "items": {"type": "string"}}, "actor_ids": {"type": "array", "items": {"type": "string"}}, "targets": {"type": "array", "items": {"type": "string"}}}}}}},
      "responses": {"201": {"description": "The export", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosExport"}}}}, "400": {"description": "Reversed range", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "404": {"description": "Unknown organization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "422": {"description": "Invalid request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}},
    "/audit_logs/exports/{id}": {"get": {"summary": "WorkOS: an export; when ready, a fresh download url (scope events:read)", "parameters": [{"$ref": "#/components/parameters/id"}],
      "responses": {"200": {"description": "The export", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosExport"}}}}, "404": {"description": "Unknown export", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}},
    "/audit_logs/actions": {"get": {"summary": "WorkOS: actions that have a schema, each with its latest schema (scope events:read)",
      "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}, {"name": "order", "in": "query", "schema": {"enum": ["desc", "normal", "asc"], "default": "desc"}}, {"name": "before", "in": "query", "schema": {"type": "string"}}, {"name": "after", "in": "query", "schema": {"type": "string"}}],
      "responses": {"200": {"description": "A list of audit_log_action", "content": {"application/json": {"schema": {"type": "object", "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"type": "object", "properties": {"object": {"const": "audit_log_action"}, "name": {"type": "string"}, "schema": {"$ref": "#/components/schemas/AuditLogSchema"}, "created_at": {"type": "string"}, "updated_at": {"type": "string"}}}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}}}}}, "422": {"description": "Bad parameters", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}},
    "/audit_logs/actions/{action}/schemas": {
      "post": {"summary": "WorkOS: create the next version of an action's schema (platform key, scope admin; meta-audited as annals.schema.created)",
        "parameters": [{"name": "action", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["targets"], "properties": {"actor": {"type": "object"}, "targets": {"type": "array", "items": {"type": "object"}}, "metadata": {"type": "object"}}}}}},
        "responses": {"201": {"description": "The new version", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditLogSchema"}}}}, "403": {"description": "Not a platform admin key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "422": {"description": "Invalid schema", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}},
      "get": {"summary": "WorkOS: the versions of an action's schema, newest first by default (scope events:read)",
        "parameters": [{"name": "action", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}}, {"name": "order", "in": "query", "schema": {"enum": ["desc", "normal", "asc"], "default": "desc"}}, {"name": "before", "in": "query", "schema": {"type": "string"}}, {"name": "after", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": {"description": "A list of audit_log_schema", "content": {"application/json": {"schema": {"type": "object", "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/AuditLogSchema"}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}}}}}, "404": {"description": "No schema for this action", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "422": {"description": "Bad parameters", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}
    },
    "/organizations/{id}/audit_logs_retention": {
      "get": {"summary": "WorkOS: an organization's audit log retention, from its retention policy's max_event_age (scope admin)", "parameters": [{"$ref": "#/components/parameters/id"}],
        "responses": {"200": {"description": "The retention", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosRetention"}}}}, "404": {"description": "Unknown organization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}},
      "put": {"summary": "WorkOS: set the retention (retention_period 1_MONTH..11_MONTHS, 1_YEAR..10_YEARS, or retention_period_in_days; scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"retention_period": {"type": "string", "examples": ["1_MONTH", "6_MONTHS", "1_YEAR", "10_YEARS"]}, "retention_period_in_days": {"type": ["integer", "null"], "minimum": 1}}}}}},
        "responses": {"200": {"description": "The new retention", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosRetention"}}}}, "404": {"description": "Unknown organization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "422": {"description": "Invalid retention", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}
    },
    "/portal/generate_link": {"post": {"summary": "WorkOS: a short-lived signed link to an organization's portal (intent audit_logs or log_streams; scope admin; meta-audited)",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["organization", "intent"], "properties": {"organization": {"type": "string"}, "intent": {"enum": ["audit_logs", "log_streams"]}, "return_url": {"type": "string"}, "success_url": {"type": "string"}}}}}},
      "responses": {"201": {"description": "The link", "content": {"application/json": {"schema": {"type": "object", "properties": {"link": {"type": "string", "format": "uri"}}}}}}, "404": {"description": "Unknown organization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "422": {"description": "Unsupported intent or invalid request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}},
    "/portal/{intent}": {"get": {"summary": "Opens a portal link: checks its token (signature, expiry, intent); no API key", "security": [],
      "parameters": [{"name": "intent", "in": "path", "required": true, "schema": {"enum": ["audit_logs", "log_streams"]}}, {"name": "token", "in": "query", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "What the link grants", "content": {"application/json": {"schema": {"type": "object", "properties": {"organization_id": {"type": "string"}, "intent": {"type": "string"}, "expires_at": {"type": "string", "format": "date-time"}}}}}}, "403": {"description": "Altered, expired or misplaced token", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}, "404": {"description": "No such portal", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkosError"}}}}}}},
    "/v1/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}}}},
    "/v1/events": {
      "post": {"summary": "Ingest one event, {\"events\": [...]}, a JSON array, or NDJSON (scope events:write). Acknowledged once durable.",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}, {"name": "receipt", "in": "query", "description": "true: each ack also carries the event's commitment (SHA-256 of its canonical JSON, hex)", "schema": {"type": "boolean"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/EventInput"}, {"type": "array", "items": {"$ref": "#/components/schemas/EventInput"}}, {"type": "object", "properties": {"events": {"type": "array", "items": {"$ref": "#/components/schemas/EventInput"}}}}]}}, "application/x-ndjson": {}}},
        "responses": {"201": {"description": "Stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Acks"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}, "429": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}},
      "get": {"summary": "Search events (scope events:read), ordered by (occurred_at, seq)",
        "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"$ref": "#/components/parameters/action"}, {"$ref": "#/components/parameters/actor_id"}, {"$ref": "#/components/parameters/target_type"}, {"$ref": "#/components/parameters/target_id"}, {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"}, {"name": "order", "in": "query", "schema": {"enum": ["desc", "asc"], "default": "desc"}}, {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/before"}],
        "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventList"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/events/stream": {"get": {"summary": "Live tail as server-sent events (scope events:read). Each message: id (resume with Last-Event-ID), event: event, data: the event JSON.",
      "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"$ref": "#/components/parameters/action"}, {"$ref": "#/components/parameters/actor_id"}, {"$ref": "#/components/parameters/target_type"}, {"$ref": "#/components/parameters/target_id"}, {"$ref": "#/components/parameters/from"}, {"$ref": "#/components/parameters/to"}, {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}, {"name": "last_event_id", "in": "query", "schema": {"type": "string"}}],
      "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}},
    "/v1/events/{id}": {"get": {"summary": "One event, exactly as stored (scope events:read)", "parameters": [{"$ref": "#/components/parameters/id"}],
      "responses": {"200": {"description": "The event", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/items/{type}/{id}": {"get": {"summary": "An item's lifecycle (scope events:read): created_at (first event), updated_at (last), deleted_at, version_count",
      "parameters": [{"name": "type", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "The item", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "organization_id": {"type": "string"}, "type": {"type": "string"}, "id": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
        "deleted_at": {"type": ["string", "null"], "format": "date-time"}, "purge_after": {"type": ["string", "null"], "format": "date-time"},
        "version_count": {"type": "integer"}, "first_seq": {"type": "integer"}, "last_seq": {"type": "integer"}, "legal_hold": {"type": "boolean"}}}}}},
        "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/items/{type}/{id}/history": {"get": {"summary": "Every event naming the item, oldest first, with an RFC 6902 patch for each change (scope events:read)",
      "parameters": [{"name": "type", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}, {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/before"}],
      "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "data": {"type": "array", "items": {"type": "object", "properties": {"event": {"$ref": "#/components/schemas/Event"}, "op": {"type": ["string", "null"]}, "patch": {"type": ["array", "null"], "items": {"type": "object"}}}}},
        "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}}}}},
        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/items/{type}/{id}/state": {"get": {"summary": "The item's image at an instant (scope events:read): the latest after-image at or before `at`, with deleted_at when it was deleted by then",
      "parameters": [{"name": "type", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}, {"name": "at", "in": "query", "schema": {"type": "string", "format": "date-time"}, "description": "default: now"}],
      "responses": {"200": {"description": "The state", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "at": {"type": "string"}, "state": {"type": "object"}, "seq": {"type": "integer"}, "event_id": {"type": "string"}, "occurred_at": {"type": "string"}, "deleted_at": {"type": ["string", "null"]}}}}}},
        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/items/{type}/{id}/diff": {"get": {"summary": "RFC 6902 patch between the item's states after two of its events (scope events:read)",
      "parameters": [{"name": "type", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}, {"name": "from_seq", "in": "query", "required": true, "schema": {"type": "integer"}}, {"name": "to_seq", "in": "query", "required": true, "schema": {"type": "integer"}}],
      "responses": {"200": {"description": "The patch", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "from_seq": {"type": "integer"}, "to_seq": {"type": "integer"}, "from": {"type": "object"}, "to": {"type": "object"}, "patch": {"type": "array", "items": {"type": "object"}}}}}}},
        "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/orgs": {
      "post": {"summary": "Create an organization (platform key, scope admin)", "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "external_id": {"type": "string"}, "settings": {"type": "object"}}}}}},
        "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Organization"}}}}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}},
      "get": {"summary": "List organizations (scope admin; an organization key sees its own)", "parameters": [{"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/before"}],
        "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OrganizationList"}}}}}}
    },
    "/v1/orgs/{id}": {
      "get": {"summary": "One organization (scope admin)", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "The organization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Organization"}}}}, "404": {"$ref": "#/components/responses/Error"}}},
      "patch": {"summary": "Change name, external_id (null clears) or settings (scope admin)", "parameters": [{"$ref": "#/components/parameters/id"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"}, "external_id": {"type": ["string", "null"]}, "settings": {"type": "object"}}}}}},
        "responses": {"200": {"description": "The organization", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Organization"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/api-keys": {
      "post": {"summary": "Create an API key (scope admin); the secret is in the response only",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "scopes"], "properties": {"name": {"type": "string"}, "kind": {"enum": ["organization", "platform"], "default": "organization"}, "organization_id": {"type": "string"}, "scopes": {"type": "array", "items": {"enum": ["events:write", "events:read", "admin"]}}, "expires_at": {"type": ["string", "null"], "format": "date-time"}}}}}},
        "responses": {"201": {"description": "Created", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKey"}}}}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
      "get": {"summary": "List API keys (scope admin)", "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/before"}],
        "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKeyList"}}}}}}
    },
    "/v1/backup": {"post": {"summary": "Write a consistent online copy of the embedded store as a new data directory (platform key, scope admin)",
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["to"], "properties": {"to": {"type": "string", "description": "An absolute path that does not exist yet"}}}}}},
      "responses": {"201": {"description": "Written", "content": {"application/json": {"schema": {"type": "object", "properties": {"path": {"type": "string"}, "bytes": {"type": "integer"}, "last_position": {"type": "integer"}, "created_at": {"type": "string", "format": "date-time"}}}}}}, "400": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}},
    "/v1/exports": {
      "post": {"summary": "Start an export of an organization's events to CSV, NDJSON or JSON, optionally gzip (scope events:read; meta-audited as annals.export.created)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"organization_id": {"type": "string"}, "action": {"type": ["string", "array"]}, "actor_id": {"type": ["string", "array"]}, "target_type": {"type": ["string", "array"]}, "target_id": {"type": ["string", "array"]}, "from": {"type": "string", "format": "date-time"}, "to": {"type": "string", "format": "date-time"}, "format": {"enum": ["csv", "ndjson", "json"], "default": "csv"}, "gzip": {"type": "boolean", "default": false}, "verifiable": {"type": "boolean", "default": false, "description": "NDJSON only: each line carries its leaf_index and the file ends with a signed tree head and a multi-leaf inclusion proof (docs/integrity.md)"}}}}}},
        "responses": {"201": {"description": "The export, pending", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Export"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
      "get": {"summary": "The organization's exports, newest first (scope events:read)", "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/before"}],
        "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Export"}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}}}}}}}
    },
    "/v1/exports/{id}": {"get": {"summary": "One export; a ready one carries a fresh signed download url (scope events:read)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "The export", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Export"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/exports/{id}/download": {"get": {"summary": "Download a ready export through its signed, expiring url (no key; meta-audited as annals.export.downloaded)", "security": [], "parameters": [{"$ref": "#/components/parameters/id"}, {"name": "organization_id", "in": "query", "required": true, "schema": {"type": "string"}}, {"name": "expires", "in": "query", "required": true, "schema": {"type": "integer"}}, {"name": "signature", "in": "query", "required": true, "schema": {"type": "string"}}],
      "responses": {"200": {"description": "The file (text/csv, application/x-ndjson, application/json or application/gzip)"}, "403": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/tree/key": {"get": {"summary": "The current public key that signs tree heads (any valid key)",
      "responses": {"200": {"description": "The key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreeKey"}}}}}}},
    "/v1/tree/keys": {"get": {"summary": "Every signing key with its validity period, oldest first (any valid key)",
      "responses": {"200": {"description": "The keys", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/TreeKey"}}}}}}}}}},
    "/v1/tree/keys/rotate": {"post": {"summary": "Replace the signing key with a new one; earlier heads stay verifiable (scope admin, platform key)",
      "responses": {"200": {"description": "The new key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreeKey"}}}}, "403": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
    "/v1/tree/head": {"get": {"summary": "An organization's newest signed tree head (scope events:read)", "parameters": [{"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "The head", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TreeHead"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/tree/heads": {"get": {"summary": "An organization's signed tree heads, newest first; after pages to older heads (scope events:read)", "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/before"}],
      "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/TreeHead"}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/tree/proof/inclusion": {"get": {"summary": "RFC 9162 inclusion proof of one event (by seq or event_id) in the tree of tree_size events (default: the newest head's) (scope events:read)", "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"name": "seq", "in": "query", "schema": {"type": "integer", "minimum": 1}}, {"name": "event_id", "in": "query", "schema": {"type": "string"}}, {"name": "tree_size", "in": "query", "schema": {"type": "integer", "minimum": 1}}],
      "responses": {"200": {"description": "The proof", "content": {"application/json": {"schema": {"type": "object", "properties": {"leaf_index": {"type": "integer"}, "tree_size": {"type": "integer"}, "leaf_hash": {"type": "string"}, "audit_path": {"type": "array", "items": {"type": "string"}}}}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/tree/proof/consistency": {"get": {"summary": "RFC 9162 consistency proof between two tree sizes (scope events:read)", "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"name": "first", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 0}}, {"name": "second", "in": "query", "required": true, "schema": {"type": "integer", "minimum": 0}}],
      "responses": {"200": {"description": "The proof", "content": {"application/json": {"schema": {"type": "object", "properties": {"first": {"type": "integer"}, "second": {"type": "integer"}, "proof": {"type": "array", "items": {"type": "string"}}}}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
    "/v1/streams": {
      "post": {"summary": "Create a log stream of an organization's events to a destination; it starts with the next event (scope admin; meta-audited as annals.stream.created)",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name", "type", "config"], "properties": {"organization_id": {"type": "string"}, "name": {"type": "string", "maxLength": 200}, "type": {"enum": ["webhook", "splunk_hec", "datadog", "s3", "syslog"]}, "config": {"type": "object"}, "filter": {"$ref": "#/components/schemas/StreamFilterInput"}, "batch": {"$ref": "#/components/schemas/StreamBatch"}}}}}},
        "responses": {"201": {"description": "The stream", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}},
      "get": {"summary": "Streams, oldest first (scope admin; a platform key sees every organization's unless organization_id is given)", "parameters": [{"$ref": "#/components/parameters/organization_id"}, {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/after"}, {"$ref": "#/components/parameters/before"}],
        "responses": {"200": {"description": "A page", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Stream"}}, "list_metadata": {"$ref": "#/components/schemas/ListMetadata"}}}}}}}}
    },
    "/v1/streams/{id}": {
      "get": {"summary": "One stream with its state, cursor and lag (scope admin)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
        "responses": {"200": {"description": "The stream", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}, "404": {"$ref": "#/components/responses/Error"}}},
      "patch": {"summary": "Change a stream's name, config (merged; secrets not given are kept; null removes a member), filter or batch (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"}, "config": {"type": "object"}, "filter": {"$ref": "#/components/schemas/StreamFilterInput"}, "batch": {"$ref": "#/components/schemas/StreamBatch"}}}}}},
        "responses": {"200": {"description": "The stream", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
      "delete": {"summary": "Delete a stream, its cursor and its dead letters (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
        "responses": {"204": {"description": "Deleted"}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/streams/{id}/pause": {"post": {"summary": "Pause delivery; the cursor stays (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "The stream", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/streams/{id}/resume": {"post": {"summary": "Resume delivery; a stream in error is retried at once (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "The stream", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/streams/{id}/replay": {"post": {"summary": "Rewind (or move) the cursor to a seq or to the first event received at or after a time (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"from_seq": {"type": "integer", "minimum": 1}, "from_time": {"type": "string", "format": "date-time"}}}}}},
      "responses": {"200": {"description": "The stream", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/streams/{id}/test": {"post": {"summary": "Deliver one synthetic event (action annals.stream.test) and report the destination's answer (scope admin)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "The answer", "content": {"application/json": {"schema": {"type": "object", "properties": {"delivered": {"type": "boolean"}, "outcome": {"enum": ["delivered", "retry", "failed", "rejected"]}, "http_status": {"type": ["integer", "null"]}, "detail": {"type": "string"}, "duration_ms": {"type": "number"}}}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/streams/{id}/dead-letters": {"get": {"summary": "Batches the destination refused as malformed and events larger than it accepts (scope admin)", "parameters": [{"$ref": "#/components/parameters/id"}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "Every dead letter, oldest first", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/DeadLetter"}}}}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/streams/{id}/dead-letters/{dead_letter}/redrive": {"post": {"summary": "Deliver a dead letter's events once more; removed when they are accepted (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}, {"name": "dead_letter", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"202": {"description": "Queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeadLetter"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/streams/{id}/dead-letters/{dead_letter}": {"delete": {"summary": "Discard a dead letter (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/id"}, {"name": "dead_letter", "in": "path", "required": true, "schema": {"type": "string"}}, {"$ref": "#/components/parameters/organization_id"}],
      "responses": {"204": {"description": "Discarded"}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/retention": {
      "get": {"summary": "An organization's retention policy (scope events:read)", "parameters": [{"$ref": "#/components/parameters/organization_id"}],
        "responses": {"200": {"description": "The policy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RetentionPolicy"}}}}, "404": {"$ref": "#/components/responses/Error"}}},
      "put": {"summary": "Change an organization's retention policy (scope admin; members left out keep their values; meta-audited)", "parameters": [{"$ref": "#/components/parameters/organization_id"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"deleted_items_keep_for": {"type": "string", "pattern": "^[0-9]+[smhd]$"}, "max_event_age": {"type": ["string", "null"], "pattern": "^[0-9]+[smhd]$"}, "legal_hold": {"type": "boolean"}}}}}},
        "responses": {"200": {"description": "The new policy", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RetentionPolicy"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/retention/purge": {"post": {"summary": "Run the purge pass of one organization now (scope admin; recorded as annals.retention.purged)", "parameters": [{"$ref": "#/components/parameters/organization_id"}],
      "responses": {"200": {"description": "What was purged", "content": {"application/json": {"schema": {"type": "object", "properties": {"organization_id": {"type": "string"}, "purged_at": {"type": "string", "format": "date-time"}, "items_purged": {"type": "integer"}, "events_purged": {"type": "integer"}, "skipped_for_legal_hold": {"type": "boolean"}}}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
    "/v1/items/{type}/{id}/hold": {"put": {"summary": "Set or lift a legal hold on one item (scope admin; meta-audited)", "parameters": [{"$ref": "#/components/parameters/organization_id"}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["legal_hold"], "properties": {"legal_hold": {"type": "boolean"}, "reason": {"type": "string", "maxLength": 500}}}}}},
      "responses": {"200": {"description": "The item view"}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "410": {"$ref": "#/components/responses/Error"}}}},
    "/v1/sources": {"get": {"summary": "The configured change-capture sources with their state, lag and counters (platform key, scope admin)",
      "responses": {"200": {"description": "Every source", "content": {"application/json": {"schema": {"type": "object", "properties": {"data": {"type": "array", "items": {"type": "object", "properties": {"kind": {"enum": ["postgres", "dynamodb", "sqs"]}, "name": {"type": "string"}, "state": {"type": "string"}, "position": {"type": ["string", "null"]}, "lag_seconds": {"type": ["number", "null"]}, "lag_bytes": {"type": ["integer", "null"]}, "events_stored": {"type": "integer"}, "records_failed": {"type": "integer"}, "last_event_at": {"type": ["string", "null"], "format": "date-time"}, "last_success_at": {"type": ["string", "null"], "format": "date-time"}, "last_error": {"type": ["string", "null"]}, "last_error_at": {"type": ["string", "null"], "format": "date-time"}}}}}}}}}, "403": {"$ref": "#/components/responses/Error"}}}},
    "/v1/sources/dynamodb/{name}": {"post": {"summary": "Store a DynamoDB stream batch exactly as AWS Lambda receives it ({\"Records\": [...]}, view type NEW_AND_OLD_IMAGES); scope events:write. Records that could not be stored are answered as batchItemFailures (by SequenceNumber).",
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "A [[sources.dynamodb]] name"}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["Records"], "properties": {"Records": {"type": "array", "items": {"type": "object"}}}}}}},
      "responses": {"200": {"description": "Every record was stored, or is named in batchItemFailures", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LambdaBatchResponse"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}},
    "/v1/sources/sqs/{name}": {"post": {"summary": "Store an SQS batch exactly as AWS Lambda receives it, each message body one event (annals' shape or WorkOS's {organization_id, event}); scope events:write. Messages that could not be stored are answered as batchItemFailures (by messageId).",
      "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "A [[sources.sqs]] name"}],
      "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["Records"], "properties": {"Records": {"type": "array", "items": {"type": "object"}}}}}}},
      "responses": {"200": {"description": "Every message was stored, or is named in batchItemFailures", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LambdaBatchResponse"}}}}, "400": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"}, "415": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"}}}},
    "/v1/api-keys/{id}": {
      "get": {"summary": "One API key (scope admin)", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "The key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKey"}}}}, "404": {"$ref": "#/components/responses/Error"}}},
      "delete": {"summary": "Revoke an API key (scope admin; idempotent)", "parameters": [{"$ref": "#/components/parameters/id"}], "responses": {"200": {"description": "The revoked key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiKey"}}}}, "404": {"$ref": "#/components/responses/Error"}}}
    }
  }
})json";
  return kDocument;
}

}  // namespace annals
