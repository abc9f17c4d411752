// Stand-in for annals_peer.cc when the benchmarks are built on their own (cmake -S bench),
// without the annals core library: the peers still run, annals' rows say why they are empty.
#include "peer.h"

namespace annals::bench {

PeerResult RunAnnalsPeer(const Ring&, const PeerConfig&) {
  PeerResult r;
  r.name = "annals (RocksStore + Ingestor)";
  r.error = "not built: configure the whole project (cmake -S . -B build) to include annals";
  return r;
}

DecodeResult RunDecodeBench(const Ring&, double) {
  DecodeResult r;
  r.error = "not built without the annals core library";
  return r;
}

}  // namespace annals::bench
