#include "common/sha256.h"

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace annals {
namespace {

// The SHA-256 implementation, fetched once (an explicit fetch avoids OpenSSL 3's
// per-call implicit lookup). Falls back to the legacy accessor if the fetch fails.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched != nullptr ? fetched : EVP_sha256();
  }();
  return md;
}

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Maps a byte to its value in `alphabet`, or -1 when it is not in the alphabet.
constexpr std::array<int8_t, 256> MakeBase64Table(const char* alphabet) {
  std::array<int8_t, 256> table{};
  for (auto& v : table) v = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
  return table;
}
constexpr std::array<int8_t, 256> kBase64UrlTable = MakeBase64Table(kBase64UrlAlphabet);
constexpr std::array<int8_t, 256> kBase64Table = MakeBase64Table(kBase64Alphabet);

// Encodes without padding.
std::string EncodeBase64(std::string_view data, const char* alphabet) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3 + 2);
  size_t i = 0;
  const auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(data[k])); };
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
    out.push_back(alphabet[n & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t n = byte(i) << 16;
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
  } else if (rest == 2) {
    const uint32_t n = (byte(i) << 16) | (byte(i + 1) << 8);
    out.push_back(alphabet[(n >> 18) & 63]);
    out.push_back(alphabet[(n >> 12) & 63]);
    out.push_back(alphabet[(n >> 6) & 63]);
  }
  return out;
}

// Decodes unpadded text strictly (see Base64UrlDecode).
std::optional<std::string> DecodeBase64(std::string_view text,
                                        const std::array<int8_t, 256>& table) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int8_t v = table[static_cast<uint8_t>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits (2 or 4) must be zero in a canonical encoding.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

}  // namespace

void Sha256Into(std::string_view data, unsigned char* out) {
  // One context per thread, reused: for the small inputs of Merkle trees (65 bytes) setting a
  // context up and tearing it down costs as much as the hashing itself.
  struct Context {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    ~Context() { EVP_MD_CTX_free(ctx); }
  };
  thread_local Context context;
  unsigned int length = 0;
  if (context.ctx == nullptr || EVP_DigestInit_ex2(context.ctx, Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(context.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.ctx, out, &length) != 1 || length != 32) {
    // SHA-256 over memory cannot fail short of a broken OpenSSL installation; carrying on
    // with a wrong digest would corrupt tamper evidence, so stop.
    std::fputs("annals: SHA-256 computation failed in OpenSSL\n", stderr);
    std::abort();
  }
}

std::string Sha256(std::string_view data) {
  std::string digest(32, '\0');
  Sha256Into(data, reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}

std::string HexEncode(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.resize(data.size() * 2);
  for (size_t i = 0; i < data.size(); ++i) {
    const auto b = static_cast<uint8_t>(data[i]);
    out[2 * i] = kHex[b >> 4];
    out[2 * i + 1] = kHex[b & 0x0f];
  }
  return out;
}

std::string Base64UrlEncode(std::string_view data) {
  return EncodeBase64(data, kBase64UrlAlphabet);
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  return DecodeBase64(text, kBase64UrlTable);
}

std::string Base64Encode(std::string_view data) {
  std::string out = EncodeBase64(data, kBase64Alphabet);
  while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (!text.empty() && text.back() == '=') {
    // Padding, when present, completes the last quantum: the padded length is a multiple of
    // 4 and there are one or two '='.
    if (text.size() % 4 != 0) return std::nullopt;
    size_t pad = 1;
    if (text.size() >= 2 && text[text.size() - 2] == '=') pad = 2;
    text.remove_suffix(pad);
    if (text.size() % 4 != 4 - pad) return std::nullopt;
  }
  return DecodeBase64(text, kBase64Table);
}

}  // namespace annals
