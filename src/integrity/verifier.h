// The offline verifier behind `annals verify` (docs/integrity.md "Verifying a store").
//
// Recomputes every organization's Merkle log from the events as stored and checks, in one
// pass in write order: each organization's seqs run 1, 2, 3, ... without gaps; each event
// hashes to the commitment its leaf holds (a tombstone keeps the commitment of the event it
// replaced); every stored node of 2^(4t) leaves equals the one recomputed; every signed tree
// head has a valid signature by a key that was valid when it was signed, follows the previous
// head of its chain, and has the root recomputed at its size; no head, leaf or counter covers
// events the log no longer holds.
//
// Reading and hashing run on one worker thread per core (at most 4) over consecutive ranges of
// write positions; the calling thread checks the ranges in order. Thread-safety: VerifyStore
// is reentrant; the store must not be written meanwhile (it is used on a data directory no
// server holds).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "annals/status.h"
#include "annals/store.h"

namespace annals::integrity {

struct VerifyOptions {
  // Only this organization; empty: every organization.
  std::string organization_id;
  // Called now and then (every 2^20 events) with the events checked so far; may be empty.
  std::function<void(uint64_t events)> progress;
};

// The first problem found.
struct VerifyFailure {
  std::string organization_id;
  uint64_t seq = 0;  // the first seq that fails; 0 when the problem is not one event's
  std::string reason;
};

struct VerifySummary {
  uint64_t organizations = 0;
  uint64_t events = 0;      // leaves checked, tombstones included
  uint64_t tombstones = 0;
  uint64_t heads = 0;       // signed heads checked
  uint64_t keys = 0;        // signing keys on record
  std::optional<VerifyFailure> failure;  // nullopt: everything verified
};

// Errors are I/O or store failures only; what fails verification is in `failure`.
Result<VerifySummary> VerifyStore(Store* store, const VerifyOptions& options);

}  // namespace annals::integrity
