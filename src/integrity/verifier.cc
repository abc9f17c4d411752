#include "integrity/verifier.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/sha256.h"
#include "domain/merkle.h"
#include "integrity/tree_head.h"

namespace annals::integrity {
namespace {

constexpr size_t kLeafBatch = 4096;
constexpr size_t kHeadBatch = 256;

std::string_view View(const Digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

std::string Range(uint64_t first, uint64_t last) {
  return first == last ? "seq " + std::to_string(first)
                       : "seqs " + std::to_string(first) + ".." + std::to_string(last);
}

// One organization's state during the pass.
class OrgCheck {
 public:
  OrgCheck(Store* store, std::string org, const std::map<std::string, PublicKey>* keys)
      : store_(store), org_(std::move(org)), keys_(keys) {}

  const std::string& org() const { return org_; }
  const std::optional<VerifyFailure>& failure() const { return failure_; }
  uint64_t heads_checked() const { return heads_checked_; }

  // Heads of the empty tree, before any event.
  Status Start() { return CheckHeadsAtCurrentSize(); }

  // The next event value of this organization in write order.
  Status Add(uint64_t seq, const Digest& commitment, const merkle::Hash& leaf_hash,
             bool tombstone) {
    const uint64_t expected = tree_.size() + 1;
    if (seq != expected) {
      return Fail(std::min(seq, expected),
                  seq > expected
                      ? "the log jumps from seq " + std::to_string(expected - 1) + " to seq " +
                            std::to_string(seq) + ": " + Range(expected, seq - 1) +
                            " missing or out of order"
                      : "seq " + std::to_string(seq) + " appears again after seq " +
                            std::to_string(expected - 1) + " (a duplicated or moved event)");
    }
    Result<std::optional<Digest>> stored = NextLeaf();
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) {
      return Fail(seq, "the Merkle log has no leaf for this event (the log was cut short)");
    }
    if (**stored != commitment) {
      return Fail(seq, tombstone ? "the tombstone's commitment differs from its Merkle leaf"
                                 : "the event does not hash to its commitment in the Merkle log "
                                   "(the event was changed)");
    }
    finished_.clear();
    ANNALS_RETURN_IF_ERROR(tree_.Append(leaf_hash, &finished_));
    for (const merkle::SubtreeHash& f : finished_) {
      const int level = std::countr_zero(f.size);
      if (level == 0 || level % kMerkleTileHeight != 0) continue;
      Result<std::vector<Digest>> node = store_->TreeNodes(org_, level, f.start >> level, 1);
      if (!node.ok()) return node.status();
      if (node->empty() || (*node)[0] != f.hash) {
        return Fail(f.start + 1, std::string("the stored Merkle node over ") +
                                     Range(f.start + 1, f.start + f.size) +
                                     (node->empty() ? " is missing" : " differs from the events"));
      }
    }
    return CheckHeadsAtCurrentSize();
  }

  // After the last event: nothing may claim more events than the log holds.
  Status Finish(uint64_t counter_last_seq) {
    const uint64_t size = tree_.size();
    if (!head_.has_value() && !heads_done_) ANNALS_RETURN_IF_ERROR(LoadHead());
    if (head_.has_value()) {
      return Fail(size + 1, "signed head #" + std::to_string(head_number_) + " covers " +
                                std::to_string(head_->tree_size) + " events, but the log ends at seq " +
                                std::to_string(size) + ": " + Range(size + 1, head_->tree_size) +
                                " are missing");
    }
    Result<std::optional<Digest>> extra = NextLeaf();
    if (!extra.ok()) return extra.status();
    if (extra->has_value()) {
      return Fail(size + 1, "the Merkle log has a leaf for seq " + std::to_string(size + 1) +
                                " but the log has no such event (the event was deleted)");
    }
    if (counter_last_seq > size) {
      return Fail(size + 1, "the store's counter says the last seq is " +
                                std::to_string(counter_last_seq) + ", but the log ends at seq " +
                                std::to_string(size));
    }
    return Status::Ok();
  }

 private:
  Status Fail(uint64_t seq, std::string reason) {
    if (!failure_) failure_ = VerifyFailure{org_, seq, std::move(reason)};
    return Status::Ok();
  }

  Result<std::optional<Digest>> NextLeaf() {
    if (leaf_pos_ == leaves_.size()) {
      const uint64_t next = leaves_first_ + leaves_.size();
      // Small runs first: most organizations are small, and buffers are per organization.
      const size_t want = std::min<size_t>(kLeafBatch, std::max<size_t>(64, leaves_.size() * 2));
      Result<std::vector<Digest>> more = store_->TreeNodes(org_, 0, next, want);
      if (!more.ok()) return more.status();
      leaves_first_ = next;
      leaves_ = std::move(*more);
      leaf_pos_ = 0;
      if (leaves_.empty()) return std::optional<Digest>();
    }
    return std::optional<Digest>(leaves_[leaf_pos_++]);
  }

  // Loads the next head (head_), or sets heads_done_.
  Status LoadHead() {
    head_.reset();
    if (head_pos_ == heads_.size()) {
      if (heads_done_) return Status::Ok();
      const std::string prefix = "tree/head/" + org_ + "/";
      Result<std::vector<std::pair<std::string, std::string>>> page =
          store_->ListMeta(prefix, heads_after_, kHeadBatch);
      if (!page.ok()) return page.status();
      heads_ = std::move(*page);
      head_pos_ = 0;
      if (heads_.empty()) {
        heads_done_ = true;
        return Status::Ok();
      }
      heads_after_ = heads_.back().first;
    }
    const auto& [name, value] = heads_[head_pos_++];
    const std::string digits = name.substr(name.rfind('/') + 1);
    uint64_t number = 0;
    if (digits.size() != 20 || digits.find_first_not_of("0123456789") != std::string::npos ||
        (number = std::stoull(digits)) != head_number_ + 1) {
      return Fail(tree_.size() + 1, "signed head #" + std::to_string(head_number_ + 1) +
                                        " is missing from the head chain (found " + name + ")");
    }
    head_number_ = number;
    Result<TreeHead> head = TreeHeadFromJson(value);
    if (!head.ok()) {
      return Fail(tree_.size() + 1, "signed head #" + std::to_string(number) +
                                        " is malformed: " + head.status().message());
    }
    head_ = std::move(*head);
    return Status::Ok();
  }

  // Checks every head whose size is the tree's current size.
  Status CheckHeadsAtCurrentSize() {
    while (!failure_) {
      if (!head_.has_value()) {
        if (heads_done_) return Status::Ok();
        ANNALS_RETURN_IF_ERROR(LoadHead());
        if (!head_.has_value()) return Status::Ok();
        continue;
      }
      const TreeHead& h = *head_;
      const uint64_t size = tree_.size();
      if (h.tree_size > size) return Status::Ok();
      const std::string which = "signed head #" + std::to_string(head_number_);
      if (h.tree_size < size) {
        // Sizes never decrease along the chain; CheckChain reports it below otherwise.
        return Fail(h.tree_size + 1, which + " covers " + std::to_string(h.tree_size) +
                                         " events, fewer than the head before it");
      }
      if (h.organization_id != org_) {
        return Fail(size, which + " names organization " + h.organization_id);
      }
      auto key = keys_->find(h.key_id);
      if (key == keys_->end()) {
        return Fail(size, which + " is signed by key " + h.key_id + ", which is not on record");
      }
      if (!VerifyHeadSignature(h, key->second)) {
        return Fail(size, which + " has a signature that does not verify with key " + h.key_id);
      }
      if (previous_.has_value()) {
        Status chain = CheckChain(*previous_, h);
        if (!chain.ok()) return Fail(size, which + " breaks the head chain: " + chain.message());
      } else if (h.previous_head_hash.has_value()) {
        return Fail(size, which + " names a previous head, but it is the first head");
      }
      if (h.root_hash != tree_.Root()) {
        const uint64_t from = previous_.has_value() ? previous_->tree_size + 1 : 1;
        return Fail(size == 0 ? 0 : from,
                    which + " (tree_size " + std::to_string(size) +
                        ") does not match the root recomputed from the events: " +
                        (size == 0 ? std::string("the tree is empty")
                                   : "an event or leaf in " + Range(from, size) +
                                         " was changed after it was signed"));
      }
      ++heads_checked_;
      previous_ = std::move(head_);
      head_.reset();
    }
    return Status::Ok();
  }

  Store* store_;
  std::string org_;
  const std::map<std::string, PublicKey>* keys_;
  merkle::CompactRange tree_;
  std::vector<merkle::SubtreeHash> finished_;
  std::vector<Digest> leaves_;
  uint64_t leaves_first_ = 0;
  size_t leaf_pos_ = 0;
  std::vector<std::pair<std::string, std::string>> heads_;
  size_t head_pos_ = 0;
  std::string heads_after_;
  bool heads_done_ = false;
  std::optional<TreeHead> head_;
  uint64_t head_number_ = 0;
  std::optional<TreeHead> previous_;
  uint64_t heads_checked_ = 0;
  std::optional<VerifyFailure> failure_;
};

}  // namespace

Result<VerifySummary> VerifyStore(Store* store, const VerifyOptions& options) {
  VerifySummary summary;
  std::map<std::string, PublicKey> keys;
  {
    Result<std::vector<std::pair<std::string, std::string>>> records =
        store->ListMeta("tree/key/", "", 0);
    if (!records.ok()) return records.status();
    for (const auto& [name, value] : *records) {
      Result<PublicKey> key = PublicKeyFromJson(value);
      if (!key.ok()) {
        summary.failure = VerifyFailure{"", 0, "the signing key record " + name +
                                                   " is malformed: " + key.status().message()};
        return summary;
      }
      keys.emplace(key->key_id, std::move(*key));
    }
  }
  summary.keys = keys.size();

  std::unordered_map<std::string, std::unique_ptr<OrgCheck>> orgs;
  std::optional<VerifyFailure> failure;
  Status error = Status::Ok();
  auto state_of = [&](std::string_view org) -> OrgCheck* {
    auto it = orgs.find(std::string(org));
    if (it != orgs.end()) return it->second.get();
    auto check = std::make_unique<OrgCheck>(store, std::string(org), &keys);
    Status s = check->Start();
    if (!s.ok()) error = s;
    return orgs.emplace(std::string(org), std::move(check)).first->second.get();
  };
  // The organizations the store counts, also those whose events all vanished.
  Result<std::vector<std::string>> counted = store->OrganizationsWithEvents();
  if (!counted.ok()) return counted.status();
  for (const std::string& org : *counted) {
    if (options.organization_id.empty() || org == options.organization_id) state_of(org);
  }
  if (!error.ok()) return error;

  // Reading and hashing (decompression, SHA-256 of each event, its leaf hash) run on worker
  // threads over consecutive ranges of write positions; this thread checks the ranges in
  // order, which is all that must be sequential (each organization's tree).
  struct Entry {
    uint64_t position = 0;
    bool malformed = false;
    bool tombstone = false;
    std::string organization_id;
    uint64_t seq = 0;
    Digest commitment{};
    merkle::Hash leaf{};
  };
  struct Chunk {
    std::vector<Entry> entries;
    Status status = Status::Ok();
    bool done = false;
  };
  Result<uint64_t> last_position = store->LastPosition();
  if (!last_position.ok()) return last_position.status();
  constexpr uint64_t kChunkPositions = 16384;
  const uint64_t chunk_count = (*last_position + kChunkPositions - 1) / kChunkPositions;
  const size_t workers =
      std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  const uint64_t max_ahead = 2 * workers + 2;  // chunks produced but not yet checked
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Chunk> ready;  // guarded by mu
  uint64_t next_chunk = 0;          // guarded by mu
  uint64_t checked = 0;             // guarded by mu: chunks the checker is done with
  bool abort = false;               // guarded by mu
  auto produce = [&] {
    for (;;) {
      uint64_t index = 0;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return abort || next_chunk < checked + max_ahead; });
        if (abort || next_chunk >= chunk_count) return;
        index = next_chunk++;
      }
      Chunk chunk;
      chunk.entries.reserve(kChunkPositions);
      chunk.status = store->VisitLog(
          index * kChunkPositions, std::min(*last_position, (index + 1) * kChunkPositions),
          [&](const LogEntryView& e) {
            if (!e.malformed && !options.organization_id.empty() &&
                e.organization_id != options.organization_id) {
              return true;
            }
            Entry& out = chunk.entries.emplace_back();
            out.position = e.position;
            out.malformed = e.malformed;
            if (e.malformed) return true;
            out.tombstone = e.tombstone;
            out.organization_id.assign(e.organization_id);
            out.seq = e.seq;
            if (e.tombstone) {
              if (e.commitment.size() != out.commitment.size()) {
                out.malformed = true;
                return true;
              }
              std::memcpy(out.commitment.data(), e.commitment.data(), out.commitment.size());
            } else {
              Sha256Into(e.json, out.commitment.data());
            }
            out.leaf = merkle::LeafHash(View(out.commitment));
            return true;
          });
      chunk.done = true;
      std::lock_guard lock(mu);
      ready.emplace(index, std::move(chunk));
      cv.notify_all();
    }
  };
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers; ++i) threads.emplace_back(produce);
  auto stop_workers = [&] {
    {
      std::lock_guard lock(mu);
      abort = true;
    }
    cv.notify_all();
    for (std::thread& t : threads) t.join();
    threads.clear();
  };

  OrgCheck* last = nullptr;
  Status visit = Status::Ok();
  for (uint64_t index = 0; index < chunk_count && !failure && error.ok() && visit.ok(); ++index) {
    Chunk chunk;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return ready.count(index) > 0; });
      chunk = std::move(ready.at(index));
      ready.erase(index);
    }
    visit = chunk.status;
    for (const Entry& e : chunk.entries) {
      if (!visit.ok() || failure || !error.ok()) break;
      if (e.malformed) {
        failure = VerifyFailure{e.organization_id, e.seq,
                                e.organization_id.empty()
                                    ? "the event value at write position " +
                                          std::to_string(e.position) + " does not decode"
                                    : "the tombstone holds no commitment"};
        break;
      }
      OrgCheck* check = last != nullptr && last->org() == e.organization_id
                            ? last
                            : state_of(e.organization_id);
      last = check;
      if (!error.ok()) break;
      if (e.tombstone) ++summary.tombstones;
      error = check->Add(e.seq, e.commitment, e.leaf, e.tombstone);
      if (!error.ok()) break;
      if (check->failure()) {
        failure = check->failure();
        break;
      }
      if ((++summary.events & ((1u << 20) - 1)) == 0 && options.progress) {
        options.progress(summary.events);
      }
    }
    {
      std::lock_guard lock(mu);
      checked = index + 1;
    }
    cv.notify_all();
  }
  stop_workers();
  ANNALS_RETURN_IF_ERROR(visit);
  ANNALS_RETURN_IF_ERROR(error);
  if (!failure) {
    // In name order, so that a report is the same from run to run.
    std::map<std::string, OrgCheck*> sorted;
    for (auto& [org, check] : orgs) sorted.emplace(org, check.get());
    for (auto& [org, check] : sorted) {
      Result<uint64_t> counter = store->LastSeq(org);
      if (!counter.ok()) return counter.status();
      ANNALS_RETURN_IF_ERROR(check->Finish(*counter));
      if (check->failure()) {
        failure = check->failure();
        break;
      }
    }
  }
  summary.organizations = orgs.size();
  for (auto& [org, check] : orgs) summary.heads += check->heads_checked();
  summary.failure = std::move(failure);
  return summary;
}

}  // namespace annals::integrity
