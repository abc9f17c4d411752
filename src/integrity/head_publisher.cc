#include "integrity/head_publisher.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace annals::integrity {
namespace {

constexpr std::string_view kHeadPrefix = "tree/head/";

std::string HeadPrefix(const std::string& organization_id) {
  return std::string(kHeadPrefix) + organization_id + "/";
}

Result<StoredHead> DecodeStored(const std::string& name, const std::string& value,
                                const std::string& organization_id) {
  StoredHead out;
  const std::string prefix = HeadPrefix(organization_id);
  const std::string_view digits = std::string_view(name).substr(prefix.size());
  if (digits.size() != 20 ||
      std::sscanf(std::string(digits).c_str(), "%20lu", &out.number) != 1 || out.number == 0) {
    return Status::Internal("the store holds a tree head with a malformed name: " + name);
  }
  Result<TreeHead> head = TreeHeadFromJson(value);
  if (!head.ok()) {
    return Status::Internal("the store holds a malformed tree head " + name + ": " +
                            head.status().message());
  }
  out.head = std::move(*head);
  return out;
}

}  // namespace

HeadPublisher::HeadPublisher(const HeadPublisherOptions& options, Store* store,
                             const SigningKeys* keys, const Clock* clock)
    : options_(options), store_(store), keys_(keys), clock_(clock) {}

HeadPublisher::~HeadPublisher() { Stop(); }

std::string HeadPublisher::HeadName(const std::string& organization_id, uint64_t number) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020lu", static_cast<unsigned long>(number));
  return HeadPrefix(organization_id) + digits;
}

void HeadPublisher::Start() {
  std::lock_guard lock(thread_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void HeadPublisher::Stop() {
  {
    std::lock_guard lock(thread_mu_);
    stop_ = true;
  }
  wake_.notify_all();
  published_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HeadPublisher::Kick() {
  {
    std::lock_guard lock(thread_mu_);
    kicked_ = true;
  }
  wake_.notify_all();
}

void HeadPublisher::Run() {
  const int64_t tick_us = std::clamp<int64_t>(options_.head_interval_us / 4, 10'000, 1'000'000);
  std::unique_lock lock(thread_mu_);
  while (!stop_) {
    lock.unlock();
    Result<size_t> signed_heads = PublishDue();
    if (!signed_heads.ok() && options_.on_error) options_.on_error(signed_heads.status());
    lock.lock();
    ++passes_;
    published_.notify_all();
    wake_.wait_for(lock, std::chrono::microseconds(tick_us), [&] { return stop_ || kicked_; });
    kicked_ = false;
  }
}

Result<std::optional<StoredHead>> HeadPublisher::LatestLocked(const std::string& organization_id) {
  auto it = latest_.find(organization_id);
  if (it != latest_.end()) return it->second;
  Result<std::optional<std::pair<std::string, std::string>>> last =
      store_->LastMeta(HeadPrefix(organization_id));
  if (!last.ok()) return last.status();
  std::optional<StoredHead> latest;
  if (last->has_value()) {
    Result<StoredHead> decoded = DecodeStored((*last)->first, (*last)->second, organization_id);
    if (!decoded.ok()) return decoded.status();
    latest = std::move(*decoded);
  }
  latest_[organization_id] = latest;
  return latest;
}

Status HeadPublisher::SignNext(const std::string& organization_id, const TreeState& tree,
                               const std::optional<StoredHead>& previous, TimestampUs now) {
  StoredHead next;
  next.number = previous.has_value() ? previous->number + 1 : 1;
  TreeHead& h = next.head;
  h.organization_id = organization_id;
  h.tree_size = tree.tree_size;
  h.root_hash = tree.root;
  // Milliseconds, never before the previous head (the chain's timestamps never go back).
  h.timestamp = now - (now % 1000 + 1000) % 1000;
  if (previous.has_value()) {
    h.timestamp = std::max(h.timestamp, previous->head.timestamp);
    h.previous_head_hash = HeadHash(previous->head);
  }
  keys_->Sign(&h);
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(HeadName(organization_id, next.number), TreeHeadToJson(h)));
  latest_[organization_id] = std::move(next);
  return Status::Ok();
}

Result<size_t> HeadPublisher::PublishDue() {
  Result<std::vector<std::string>> orgs = store_->OrganizationsWithEvents();
  if (!orgs.ok()) return orgs.status();
  std::lock_guard lock(publish_mu_);
  size_t count = 0;
  for (const std::string& org : *orgs) {
    Result<std::optional<StoredHead>> latest = LatestLocked(org);
    if (!latest.ok()) return latest.status();
    const TimestampUs now = clock_->NowMicros();
    if (latest->has_value()) {
      const TreeHead& last = (*latest)->head;
      const int64_t age = now - last.timestamp;
      Result<uint64_t> size = store_->LastSeq(org);
      if (!size.ok()) return size.status();
      const bool grown = *size > last.tree_size;
      if (!(grown && age >= options_.head_interval_us) && age < options_.max_head_age_us) {
        continue;
      }
    }
    Result<TreeState> tree = store_->CurrentTree(org);
    if (!tree.ok()) return tree.status();
    ANNALS_RETURN_IF_ERROR(SignNext(org, *tree, *latest, now));
    ++count;
  }
  return count;
}

Result<std::optional<StoredHead>> HeadPublisher::Latest(const std::string& organization_id) {
  std::lock_guard lock(publish_mu_);
  return LatestLocked(organization_id);
}

Result<std::optional<StoredHead>> HeadPublisher::Get(const std::string& organization_id,
                                                     uint64_t number) {
  if (number == 0) return std::optional<StoredHead>();
  const std::string name = HeadName(organization_id, number);
  Result<std::optional<std::string>> value = store_->GetMeta(name);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<StoredHead>();
  Result<StoredHead> decoded = DecodeStored(name, **value, organization_id);
  if (!decoded.ok()) return decoded.status();
  return std::optional<StoredHead>(std::move(*decoded));
}

Result<std::vector<StoredHead>> HeadPublisher::List(const std::string& organization_id,
                                                    std::optional<uint64_t> before, size_t limit) {
  std::vector<StoredHead> out;
  Result<std::optional<StoredHead>> latest = Latest(organization_id);
  if (!latest.ok()) return latest.status();
  if (!latest->has_value() || limit == 0) return out;
  uint64_t top = (*latest)->number;
  if (before.has_value()) {
    if (*before <= 1) return out;
    top = std::min(top, *before - 1);
  }
  const uint64_t bottom = top > limit ? top - limit + 1 : 1;
  // Names are zero-padded, so the run [bottom, top] is one ascending listing.
  Result<std::vector<std::pair<std::string, std::string>>> entries =
      store_->ListMeta(HeadPrefix(organization_id),
                       bottom > 1 ? HeadName(organization_id, bottom - 1) : "", top - bottom + 1);
  if (!entries.ok()) return entries.status();
  for (auto it = entries->rbegin(); it != entries->rend(); ++it) {
    Result<StoredHead> decoded = DecodeStored(it->first, it->second, organization_id);
    if (!decoded.ok()) return decoded.status();
    if (decoded->number > top) continue;
    out.push_back(std::move(*decoded));
  }
  return out;
}

Result<StoredHead> HeadPublisher::WaitForHead(const std::string& organization_id,
                                              uint64_t min_size, int64_t timeout_us) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(timeout_us);
  while (true) {
    Result<std::optional<StoredHead>> latest = Latest(organization_id);
    if (!latest.ok()) return latest.status();
    if (latest->has_value() && (*latest)->head.tree_size >= min_size) return std::move(**latest);
    std::unique_lock lock(thread_mu_);
    if (stop_ || std::chrono::steady_clock::now() >= deadline) break;
    const uint64_t passes = passes_;
    kicked_ = true;
    wake_.notify_all();
    published_.wait_until(lock, deadline, [&] { return stop_ || passes_ != passes; });
  }
  return Status::Unavailable("no signed tree head of organization " + organization_id +
                                 " covers " + std::to_string(min_size) + " events yet",
                             "tree_head_pending");
}

}  // namespace annals::integrity
