#include "integrity/signing_keys.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <tuple>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <utility>

#include "common/sha256.h"

namespace annals::integrity {
namespace {

namespace fs = std::filesystem;

static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_PUBLICKEYBYTES == kPublicKeyBytes);
static_assert(crypto_sign_BYTES == kSignatureBytes);

constexpr size_t kSeedBytes = crypto_sign_SEEDBYTES;
constexpr char kRecordPrefix[] = "tree/key/";
// A key file is a few hundred bytes; anything much larger is not one.
constexpr off_t kMaxKeyFileBytes = 64 * 1024;

// A string that holds secret bytes: wiped when it goes out of scope.
class SecretString {
 public:
  SecretString() = default;
  ~SecretString() { Wipe(); }
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  void Wipe() {
    if (!s_.empty()) sodium_memzero(s_.data(), s_.size());
    s_.clear();
  }
  std::string& str() { return s_; }
  const std::string& str() const { return s_; }

 private:
  std::string s_;
};

TimestampUs FloorToMillis(TimestampUs t) {
  TimestampUs r = t % 1000;
  if (r < 0) r += 1000;
  return t - r;
}

std::string Errno(int err) { return std::strerror(err); }

Status InvalidKey(const std::string& path, const std::string& problem) {
  return Status::FailedPrecondition("the tree signing key file " + path + " " + problem,
                                    "invalid_signing_key");
}

// OpenSSL keeps errors in a per-thread queue; failures here are reported as sentences, so
// the queue is cleared to keep later, unrelated callers from seeing them.
struct OpenSslErrorClearer {
  ~OpenSslErrorClearer() { ERR_clear_error(); }
};

// Refuses to prompt on a terminal for the passphrase of an encrypted PEM key.
int NoPassphrase(char*, int, int, void*) { return -1; }

// The 32-byte seed from a key file's content.
Result<std::string> SeedFromKeyFile(const std::string& path, std::string_view content) {
  const size_t begin = content.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return InvalidKey(path, "is empty");
  content.remove_prefix(begin);
  content.remove_suffix(content.size() - content.find_last_not_of(" \t\r\n") - 1);

  if (content.starts_with("-----BEGIN")) {
    OpenSslErrorClearer clear_errors;
    BIO* bio = BIO_new_mem_buf(content.data(), static_cast<int>(content.size()));
    if (bio == nullptr) return Status::Internal("cannot allocate an OpenSSL buffer");
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, NoPassphrase, nullptr);
    BIO_free(bio);
    if (pkey == nullptr) {
      return InvalidKey(path, "holds no readable PEM private key (an encrypted key is not "
                              "supported)");
    }
    std::string seed(kSeedBytes, '\0');
    size_t len = seed.size();
    Status status;
    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_ED25519) {
      const char* type = EVP_PKEY_get0_type_name(pkey);
      status = InvalidKey(path, "holds " + std::string(type != nullptr ? type : "another") +
                                    " private key, not an Ed25519 key");
    } else if (EVP_PKEY_get_raw_private_key(
                   pkey, reinterpret_cast<unsigned char*>(seed.data()), &len) != 1 ||
               len != kSeedBytes) {
      status = InvalidKey(path, "holds an Ed25519 key whose private part cannot be read");
    }
    EVP_PKEY_free(pkey);
    if (!status.ok()) {
      sodium_memzero(seed.data(), seed.size());
      return status;
    }
    return seed;
  }

  const auto not_seed = [&] {
    return InvalidKey(path, "is neither a PEM Ed25519 private key (PKCS#8) nor one line of "
                            "standard base64 of a 32-byte Ed25519 seed");
  };
  std::optional<std::string> seed = Base64Decode(content);
  if (!seed) return not_seed();
  if (seed->size() != kSeedBytes) {
    sodium_memzero(seed->data(), seed->size());
    return not_seed();
  }
  return std::move(*seed);
}

// Reads a key file, refusing one that group or others may read or write. `missing` (when
// not null) is set instead of failing when the file does not exist.
Result<std::string> ReadKeyFile(const std::string& path, bool* missing) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT && missing != nullptr) {
      *missing = true;
      return std::string();
    }
    return Status::FailedPrecondition(
        "cannot open the tree signing key file " + path + ": " + Errno(err),
        "invalid_signing_key");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::FailedPrecondition(
        "cannot inspect the tree signing key file " + path + ": " + Errno(err),
        "invalid_signing_key");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidKey(path, "is not a regular file");
  }
  if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return InvalidKey(path, "may be read or written by group or others (mode " +
                                std::string(mode) + "); restrict it with chmod 600 " + path);
  }
  if (st.st_size > kMaxKeyFileBytes) {
    ::close(fd);
    return InvalidKey(path, "is too large to be a key file");
  }
  SecretString content;
  content.str().resize(static_cast<size_t>(st.st_size) + 1);
  size_t have = 0;
  while (true) {
    if (have == content.str().size()) {
      ::close(fd);
      return InvalidKey(path, "is too large to be a key file");
    }
    const ssize_t n = ::read(fd, content.str().data() + have, content.str().size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Status::FailedPrecondition(
          "cannot read the tree signing key file " + path + ": " + Errno(err),
          "invalid_signing_key");
    }
    if (n == 0) break;
    have += static_cast<size_t>(n);
  }
  ::close(fd);
  return SeedFromKeyFile(path, std::string_view(content.str()).substr(0, have));
}

// The PKCS#8 PEM form of an Ed25519 private key given by its seed.
Result<std::string> PemFromSeed(std::string_view seed) {
  OpenSslErrorClearer clear_errors;
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  if (pkey == nullptr) return Status::Internal("cannot build an Ed25519 key with OpenSSL");
  // Secure memory is wiped when the buffer is freed.
  BIO* bio = BIO_new(BIO_s_secmem());
  if (bio == nullptr) {
    EVP_PKEY_free(pkey);
    return Status::Internal("cannot allocate an OpenSSL buffer");
  }
  std::string pem;
  const bool written =
      PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (written) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    if (len > 0) pem.assign(data, static_cast<size_t>(len));
  }
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  if (pem.empty()) return Status::Internal("cannot write an Ed25519 key in PEM form");
  return pem;
}

Status SyncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Internal("cannot open " + dir.string() + ": " + Errno(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::Internal("cannot sync " + dir.string() + ": " + Errno(err));
  return Status::Ok();
}

// Replaces `path` with `content` atomically and durably, as a 0600 file.
Status WriteKeyFileAtomically(const fs::path& path, std::string_view content) {
  std::string tmp = path.string() + ".tmp-XXXXXX";
  const int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // created 0600
  if (fd < 0) {
    return Status::Internal("cannot create a temporary file next to " + path.string() + ": " +
                            Errno(errno));
  }
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status::Internal("cannot " + what + " " + tmp + ": " + Errno(err));
  };
  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0) return fail("set the mode of");
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("sync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::Internal("cannot close " + tmp + ": " + Errno(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Status::Internal("cannot rename " + tmp + " to " + path.string() + ": " + Errno(err));
  }
  return SyncDir(path.parent_path());
}

// Creates `dir` (mode 0700) and its parents when missing.
Status EnsureKeyDir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (ec) return Status::Internal("cannot create " + dir.parent_path().string() + ": " + ec.message());
  if (::mkdir(dir.c_str(), S_IRWXU) != 0 && errno != EEXIST) {
    return Status::Internal("cannot create " + dir.string() + ": " + Errno(errno));
  }
  return Status::Ok();
}

// A fresh Ed25519 seed and its libsodium key pair.
struct KeyPair {
  std::string public_key;
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secret{};
  ~KeyPair() { sodium_memzero(secret.data(), secret.size()); }
};

void KeyPairFromSeed(std::string_view seed, KeyPair* pair) {
  pair->public_key.assign(crypto_sign_PUBLICKEYBYTES, '\0');
  crypto_sign_seed_keypair(reinterpret_cast<unsigned char*>(pair->public_key.data()),
                           pair->secret.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
}

}  // namespace

Result<std::unique_ptr<SigningKeys>> SigningKeys::Open(const SigningKeyOptions& options,
                                                       Store* store, const Clock* clock) {
  if (sodium_init() < 0) return Status::Internal("libsodium cannot be initialized");
  if (options.key_file.empty() && options.data_dir.empty()) {
    return Status::InvalidArgument("the tree signing key needs a data directory or a key file");
  }
  std::unique_ptr<SigningKeys> keys(new SigningKeys(options, store, clock));

  KeyPair pair;
  {
    SecretString seed;
    if (!options.key_file.empty()) {
      Result<std::string> read = ReadKeyFile(options.key_file, nullptr);
      if (!read.ok()) return read.status();
      seed.str() = std::move(*read);
    } else {
      const fs::path dir = fs::path(options.data_dir) / "integrity";
      const fs::path path = dir / "tree-signing.key";
      bool missing = false;
      Result<std::string> read = ReadKeyFile(path.string(), &missing);
      if (!read.ok()) return read.status();
      seed.str() = std::move(*read);
      if (missing) {
        seed.str().assign(kSeedBytes, '\0');
        randombytes_buf(seed.str().data(), seed.str().size());
        Result<std::string> pem = PemFromSeed(seed.str());
        if (!pem.ok()) return pem.status();
        Status written = EnsureKeyDir(dir);
        if (written.ok()) written = WriteKeyFileAtomically(path, *pem);
        sodium_memzero(pem->data(), pem->size());
        if (!written.ok()) return written;
      }
    }
    KeyPairFromSeed(seed.str(), &pair);
  }
  const std::string key_id = KeyIdFor(pair.public_key);

  // Not shared yet: no lock needed, but the helpers expect it held.
  std::unique_lock lock(keys->mu_);
  ANNALS_RETURN_IF_ERROR(keys->LoadCache());
  auto it = keys->cache_.find(key_id);
  if (it != keys->cache_.end() && it->second.valid_until) {
    return Status::FailedPrecondition(
        "the tree signing key " + key_id + " in " +
            (options.key_file.empty() ? "the data directory" : options.key_file) +
            " was retired and cannot sign again; supply a new key",
        "signing_key_retired");
  }
  TimestampUs close_at;
  if (it == keys->cache_.end()) {
    PublicKey record;
    record.key_id = key_id;
    record.raw = pair.public_key;
    record.valid_from = keys->RecordTime();
    ANNALS_RETURN_IF_ERROR(keys->PutRecord(record));
    close_at = record.valid_from;
  } else {
    close_at = it->second.valid_from;
  }
  ANNALS_RETURN_IF_ERROR(keys->CloseOthers(key_id, close_at));
  keys->current_ = keys->cache_.at(key_id);
  keys->secret_ = pair.secret;
  lock.unlock();
  return keys;
}

SigningKeys::~SigningKeys() { sodium_memzero(secret_.data(), secret_.size()); }

PublicKey SigningKeys::Current() const {
  std::shared_lock lock(mu_);
  return current_;
}

Result<std::vector<PublicKey>> SigningKeys::All() const {
  Result<std::vector<std::pair<std::string, std::string>>> listed =
      store_->ListMeta(kRecordPrefix, "", 0);
  if (!listed.ok()) return listed.status();
  std::vector<PublicKey> keys;
  keys.reserve(listed->size());
  for (const auto& [name, value] : *listed) {
    Result<PublicKey> key = PublicKeyFromJson(value);
    if (!key.ok() || name != kRecordPrefix + key->key_id) {
      return Status::Internal("the tree signing key record " + name + " is corrupt");
    }
    keys.push_back(std::move(*key));
  }
  // By period: keys rotated within one millisecond share valid_from, and then the one that
  // ended first comes first and the current key (no end) last.
  std::sort(keys.begin(), keys.end(), [](const PublicKey& a, const PublicKey& b) {
    const TimestampUs a_end = a.valid_until.value_or(std::numeric_limits<TimestampUs>::max());
    const TimestampUs b_end = b.valid_until.value_or(std::numeric_limits<TimestampUs>::max());
    return std::tie(a.valid_from, a_end, a.key_id) < std::tie(b.valid_from, b_end, b.key_id);
  });
  return keys;
}

std::optional<PublicKey> SigningKeys::Find(std::string_view key_id) const {
  std::shared_lock lock(mu_);
  auto it = cache_.find(key_id);
  if (it == cache_.end()) return std::nullopt;
  return it->second;
}

void SigningKeys::Sign(TreeHead* head) const {
  std::shared_lock lock(mu_);
  head->timestamp = std::max(FloorToMillis(head->timestamp), current_.valid_from);
  head->key_id = current_.key_id;
  const std::string message = SignedMessage(*head);
  head->signature.assign(kSignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(head->signature.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
}

Result<PublicKey> SigningKeys::Rotate() {
  if (!options_.key_file.empty()) {
    return Status::FailedPrecondition(
        "the tree signing key comes from configuration (" + options_.key_file +
            "); replace that file and restart annals to change it",
        "signing_key_from_configuration");
  }
  std::unique_lock lock(mu_);
  KeyPair pair;
  {
    SecretString seed;
    seed.str().assign(kSeedBytes, '\0');
    randombytes_buf(seed.str().data(), seed.str().size());
    KeyPairFromSeed(seed.str(), &pair);
    Result<std::string> pem = PemFromSeed(seed.str());
    if (!pem.ok()) return pem.status();
    const fs::path dir = fs::path(options_.data_dir) / "integrity";
    Status written = EnsureKeyDir(dir);
    if (written.ok()) written = WriteKeyFileAtomically(dir / "tree-signing.key", *pem);
    sodium_memzero(pem->data(), pem->size());
    if (!written.ok()) return written;
  }

  PublicKey record;
  record.key_id = KeyIdFor(pair.public_key);
  record.raw = pair.public_key;
  record.valid_from = RecordTime();
  if (cache_.contains(record.key_id)) {
    // Two random keys with one 64-bit id: never in practice, and refused rather than mixed up.
    return Status::Internal("a new tree signing key has the id of an earlier key; rotate again");
  }
  // The new record first: until it is stored, the old key stays current (and open).
  ANNALS_RETURN_IF_ERROR(PutRecord(record));
  secret_ = pair.secret;
  current_ = record;
  ANNALS_RETURN_IF_ERROR(CloseOthers(record.key_id, record.valid_from));
  return record;
}

Status SigningKeys::PutRecord(const PublicKey& record) {
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(kRecordPrefix + record.key_id, PublicKeyToJson(record)));
  cache_[record.key_id] = record;
  return Status::Ok();
}

Status SigningKeys::CloseOthers(const std::string& key_id, TimestampUs at) {
  for (const auto& [id, record] : cache_) {
    if (id == key_id || record.valid_until) continue;
    PublicKey closed = record;
    closed.valid_until = std::max(at, record.valid_from);
    ANNALS_RETURN_IF_ERROR(PutRecord(closed));
  }
  return Status::Ok();
}

TimestampUs SigningKeys::RecordTime() const {
  TimestampUs t = FloorToMillis(clock_->NowMicros());
  for (const auto& [id, record] : cache_) {
    t = std::max(t, record.valid_from);
    if (record.valid_until) t = std::max(t, *record.valid_until);
  }
  return t;
}

Status SigningKeys::LoadCache() {
  Result<std::vector<PublicKey>> all = All();
  if (!all.ok()) return all.status();
  cache_.clear();
  for (PublicKey& key : *all) {
    std::string id = key.key_id;
    cache_.emplace(std::move(id), std::move(key));
  }
  return Status::Ok();
}

}  // namespace annals::integrity
