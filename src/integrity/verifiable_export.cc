#include "integrity/verifiable_export.h"

#include <boost/json.hpp>

#include <algorithm>
#include <numeric>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/merkle.h"
#include "storage/tree_source.h"

namespace annals::integrity {
namespace {

Status Failed(std::string sentence) {
  return Status::InvalidArgument(std::move(sentence), "export_verification_failed");
}

}  // namespace

Result<std::string> BuildVerificationTrailer(Store* store, HeadPublisher* heads,
                                             const std::string& organization_id,
                                             const std::vector<uint64_t>& sorted_leaf_indices,
                                             int64_t timeout_us) {
  const uint64_t needed = sorted_leaf_indices.empty() ? 0 : sorted_leaf_indices.back() + 1;
  Result<StoredHead> head = heads->WaitForHead(organization_id, std::max<uint64_t>(needed, 1),
                                               timeout_us);
  if (!head.ok()) return head.status();
  StoreTreeSource source(store, organization_id);
  Result<std::vector<merkle::Hash>> proof =
      merkle::MultiInclusionProof(sorted_leaf_indices, head->head.tree_size, source);
  if (!proof.ok()) return proof.status();
  std::string out = "{\"verification\":{\"format\":\"";
  out += kVerifiableExportFormat;
  out += "\",\"leaf_count\":" + std::to_string(sorted_leaf_indices.size()) + ",\"proof\":[";
  for (size_t i = 0; i < proof->size(); ++i) {
    if (i > 0) out += ',';
    out += '"' + merkle::HashToHex((*proof)[i]) + '"';
  }
  out += "],\"tree_head\":" + TreeHeadToJson(head->head) + "}}";
  return out;
}

Result<ExportVerification> VerifyExport(std::istream& in, const std::vector<PublicKey>& keys) {
  namespace json = boost::json;
  struct Leaf {
    uint64_t index;
    merkle::Hash hash;
  };
  std::vector<Leaf> leaves;
  std::vector<std::string> orgs;  // distinct organizations of the events
  std::optional<json::object> trailer;
  std::string line;
  uint64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string where = "line " + std::to_string(line_no);
    if (trailer) return Failed(where + " follows the verification line, which must be last");
    if (line.empty()) return Failed(where + " is empty");
    json::error_code ec;
    json::value v = json::parse(line, ec);
    if (ec || !v.is_object()) return Failed(where + " is not a JSON object");
    json::object& o = v.as_object();
    if (o.contains("verification")) {
      if (!o.at("verification").is_object() || o.size() != 1) {
        return Failed(where + ": the verification line must be {\"verification\": {...}}");
      }
      trailer = std::move(o.at("verification").as_object());
      continue;
    }
    const json::value* event = o.if_contains("event");
    const json::value* index = o.if_contains("leaf_index");
    if (event == nullptr || !event->is_object() || index == nullptr || !index->is_number() ||
        o.size() != 2) {
      return Failed(where + " is not {\"event\": {...}, \"leaf_index\": N}");
    }
    std::error_code num_ec;
    const uint64_t leaf_index = index->to_number<uint64_t>(num_ec);
    if (num_ec) return Failed(where + ": leaf_index is not a non-negative integer");
    const json::value* seq = event->as_object().if_contains("seq");
    const json::value* org = event->as_object().if_contains("organization_id");
    if (seq == nullptr || !seq->is_number() || org == nullptr || !org->is_string()) {
      return Failed(where + ": the event lacks seq or organization_id");
    }
    const uint64_t seq_value = seq->to_number<uint64_t>(num_ec);
    if (num_ec || seq_value != leaf_index + 1) {
      return Failed(where + ": leaf_index " + std::to_string(leaf_index) +
                    " does not match the event's seq");
    }
    const std::string org_id(org->as_string());
    if (std::find(orgs.begin(), orgs.end(), org_id) == orgs.end()) orgs.push_back(org_id);
    const std::string commitment = Sha256(Canonical(*event));
    leaves.push_back(Leaf{leaf_index, merkle::LeafHash(commitment)});
  }
  if (in.bad()) return Status::Unavailable("cannot read the export");
  if (!trailer) {
    return Failed("the export has no verification line (was it created with \"verifiable\": "
                  "true, and is it complete?)");
  }
  const json::value* format = trailer->if_contains("format");
  if (format == nullptr || !format->is_string() || format->as_string() != kVerifiableExportFormat) {
    return Failed("the verification line's format is not " + std::string(kVerifiableExportFormat));
  }
  const json::value* head_json = trailer->if_contains("tree_head");
  if (head_json == nullptr || !head_json->is_object()) {
    return Failed("the verification line has no tree_head");
  }
  Result<TreeHead> head = TreeHeadFromJson(json::serialize(*head_json));
  if (!head.ok()) return Failed("the tree head is malformed: " + head.status().message());
  auto key = std::find_if(keys.begin(), keys.end(),
                          [&](const PublicKey& k) { return k.key_id == head->key_id; });
  if (key == keys.end()) {
    return Failed("the tree head is signed by key " + head->key_id +
                  ", which is not among the public keys given");
  }
  if (!VerifyHeadSignature(*head, *key)) {
    return Failed("the tree head's signature does not verify with key " + head->key_id);
  }
  for (const std::string& org : orgs) {
    if (org != head->organization_id) {
      return Failed("the export holds an event of organization " + org +
                    ", but the tree head is organization " + head->organization_id + "'s");
    }
  }
  const json::value* count = trailer->if_contains("leaf_count");
  std::error_code num_ec;
  if (count == nullptr || !count->is_number() || count->to_number<uint64_t>(num_ec) != leaves.size() ||
      num_ec) {
    return Failed("the verification line's leaf_count does not match the " +
                  std::to_string(leaves.size()) + " events in the file (events were added or removed)");
  }
  const json::value* proof_json = trailer->if_contains("proof");
  if (proof_json == nullptr || !proof_json->is_array()) {
    return Failed("the verification line has no proof");
  }
  std::vector<merkle::Hash> proof;
  for (const json::value& h : proof_json->as_array()) {
    std::optional<merkle::Hash> parsed =
        h.is_string() ? merkle::HashFromHex(std::string_view(h.as_string())) : std::nullopt;
    if (!parsed) return Failed("the proof holds an entry that is not a lowercase hex hash");
    proof.push_back(*parsed);
  }
  std::sort(leaves.begin(), leaves.end(),
            [](const Leaf& a, const Leaf& b) { return a.index < b.index; });
  std::vector<uint64_t> indices;
  std::vector<merkle::Hash> hashes;
  indices.reserve(leaves.size());
  hashes.reserve(leaves.size());
  for (const Leaf& l : leaves) {
    if (!indices.empty() && indices.back() == l.index) {
      return Failed("the event at leaf_index " + std::to_string(l.index) + " appears twice");
    }
    indices.push_back(l.index);
    hashes.push_back(l.hash);
  }
  if (!indices.empty() && indices.back() >= head->tree_size) {
    return Failed("the event with seq " + std::to_string(indices.back() + 1) +
                  " is beyond the tree head (tree_size " + std::to_string(head->tree_size) + ")");
  }
  if (!merkle::VerifyMultiInclusion(indices, hashes, head->tree_size, proof, head->root_hash)) {
    return Failed("the events do not recompute the tree head's root: an event was changed, or "
                  "the proof does not belong to these events");
  }
  ExportVerification out;
  out.organization_id = head->organization_id;
  out.events = leaves.size();
  out.head = std::move(*head);
  return out;
}

}  // namespace annals::integrity
