// SHA-256 and the byte encodings annals uses for hashes, keys and tokens.
// All functions are pure and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace annals {

// Returns the SHA-256 digest of `data` as 32 raw bytes.
std::string Sha256(std::string_view data);

// Writes the SHA-256 digest of `data` to out[0..32).
void Sha256Into(std::string_view data, unsigned char* out);

// Returns `data` as lowercase hexadecimal (two characters per byte).
std::string HexEncode(std::string_view data);

// Returns `data` in base64url (RFC 4648 section 5) without padding.
std::string Base64UrlEncode(std::string_view data);

// Decodes unpadded base64url. Strict: returns nullopt for any character outside
// [A-Za-z0-9_-] (including '=' padding and whitespace), for a length that no encoding
// produces (length % 4 == 1), and for non-zero unused bits in the last character, so that
// every byte string has exactly one accepted encoding.
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Returns `data` in standard base64 (RFC 4648 section 4) with '=' padding.
std::string Base64Encode(std::string_view data);

// Decodes standard base64. '=' padding is optional, but when present it must be complete and
// final; returns nullopt for any other character (including whitespace), for a length that
// no encoding produces, and for non-zero unused bits in the last character.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace annals
